"""`JanitorActivities`: find threads through Temporal's visibility, and retire idle ones.

The Assistants API cannot list threads, so the janitor finds them where threadloom left their ids:
the `ThreadId` search attribute of its turn and conversation workflows. A page of closed workflows
(or conversations still open since before the cutoff) yields candidate threads; each candidate is
then checked on both sides before anything is deleted:

- Temporal (every task queue): a running turn (or any other running workflow naming the thread)
  makes it busy; a turn closed after the cutoff, or a conversation run started after it, makes it
  recent. A conversation's own close is not activity (it closes an idle timeout after its last
  turn, or because the janitor closed it), so a retried attempt after closing one still converges.
- The Threads API: the thread, its newest run and its newest message were created before the
  cutoff and no run is active (another client may use the thread without threadloom).

A conversation still waiting for turns on an idle thread is closed (its `close` update) and waited
for before the thread is deleted. Deleting is idempotent: a thread already gone counts as `gone`.
What is left is a race of milliseconds: a turn started between the last check and the DELETE.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from threadloom.activities.errors import translated
from threadloom.activities.liveness import heartbeating
from threadloom.threads_client import TERMINAL_RUN_STATUSES, NotFoundError, ThreadsClient
from threadloom.workflows.contracts import THREAD_ID, TURN_WORKFLOW, ErrorType
from threadloom.workflows.conversation_contracts import (
    CLOSE_UPDATE,
    CONVERSATION_WORKFLOW,
    STATUS_QUERY,
    CloseConversation,
    ConversationStatus,
)
from threadloom.workflows.janitor_contracts import (
    FindThreadsInput,
    FindThreadsOutput,
    RetireThreadInput,
    RetireThreadOutput,
)

RUNNING = WorkflowExecutionStatus.RUNNING
_SAFE_LITERAL = re.compile(r"[A-Za-z0-9_.:/@-]{1,256}")
CLOSE_REASON = "thread retention: idle since before {cutoff}"


def visibility_time(moment: datetime) -> str:
    """A timestamp as visibility queries take it (RFC 3339, UTC)."""
    return moment.astimezone(UTC).isoformat()


def literal(value: str) -> str:
    """`value` as a quoted visibility query literal; a value that could break out of it is refused."""
    if not _SAFE_LITERAL.fullmatch(value):
        raise ApplicationError(
            f"{value!r} cannot go into a visibility query", type=ErrorType.INVALID_REQUEST
        )
    return f'"{value}"'


def candidates_query(task_queue: str, cutoff: datetime) -> str:
    """Workflows of `task_queue` naming a thread: closed before `cutoff`, or open conversations
    started before it. A conversation's own turns are left out: its runs name its thread once per
    run rather than once per turn (a conversation that ended idle after the cutoff, though its
    last turn was before it, is found by the next pass)."""
    at = visibility_time(cutoff)
    return (
        f"TaskQueue = {literal(task_queue)} AND ThreadId IS NOT NULL AND "
        f'(WorkflowType != "{TURN_WORKFLOW}" OR ConversationId IS NULL) AND '
        f'((ExecutionStatus != "Running" AND CloseTime < "{at}") OR '
        f'(WorkflowType = "{CONVERSATION_WORKFLOW}" AND ExecutionStatus = "Running" '
        f'AND StartTime < "{at}"))'
    )


def activity_query(thread_id: str, cutoff: datetime) -> str:
    """Workflows (any task queue) naming `thread_id` that run now or ran after `cutoff`."""
    at = visibility_time(cutoff)
    return (
        f"ThreadId = {literal(thread_id)} AND "
        f'(ExecutionStatus = "Running" OR CloseTime >= "{at}" OR StartTime >= "{at}")'
    )


def janitor_activities(threads: ThreadsClient, temporal: Client) -> list[Callable[..., Any]]:
    """The janitor's activities, bound, for the worker's list."""
    janitor = JanitorActivities(threads, temporal)
    return [janitor.find_threads, janitor.retire_thread]


class JanitorActivities:
    """Activities of `JanitorWorkflow`, bound to the Threads API and the Temporal client."""

    def __init__(self, threads: ThreadsClient, temporal: Client) -> None:
        self._threads = threads
        self._temporal = temporal

    @activity.defn
    async def find_threads(self, request: FindThreadsInput) -> FindThreadsOutput:
        """One page of candidate workflows, as the distinct thread ids they name (in page order)."""
        token = base64.b64decode(request.page_token) if request.page_token else None
        executions = self._temporal.list_workflows(
            candidates_query(request.task_queue, request.cutoff),
            page_size=request.page_size,
            next_page_token=token,
        )
        await executions.fetch_next_page()
        ids: dict[str, None] = {}
        for execution in executions.current_page or []:
            thread_id = execution.typed_search_attributes.get(THREAD_ID)
            if thread_id:
                ids[thread_id] = None
        following = executions.next_page_token
        return FindThreadsOutput(
            thread_ids=list(ids),
            next_page_token=base64.b64encode(following).decode() if following else None,
        )

    @activity.defn
    async def retire_thread(self, request: RetireThreadInput) -> RetireThreadOutput:
        """Delete the thread if it is idle (closing its waiting conversation first)."""
        async with heartbeating():
            found = await self._temporal_side(request)
            if isinstance(found, RetireThreadOutput):
                return found
            on_api = await self._api_side(request)
            if on_api is not None:
                return on_api
            if request.dry_run:
                return RetireThreadOutput(verdict="would_delete")
            for conversation in found:
                await self._close(conversation, request.cutoff)
            if found:  # a turn may have slipped in before the close took effect
                again = await self._temporal_side(request)
                if isinstance(again, RetireThreadOutput):
                    return again.model_copy(update={"closed_conversation": True})
            with translated():
                try:
                    await self._threads.threads.delete(request.thread_id)
                except NotFoundError:
                    return RetireThreadOutput(verdict="gone", closed_conversation=bool(found))
        activity.logger.info("deleted idle thread %s", request.thread_id)
        return RetireThreadOutput(verdict="deleted", closed_conversation=bool(found))

    async def _temporal_side(
        self, request: RetireThreadInput
    ) -> RetireThreadOutput | list[WorkflowExecution]:
        """A verdict if Temporal shows the thread in use, else its idle open conversations."""
        conversations = []
        query = activity_query(request.thread_id, request.cutoff)
        async for execution in self._temporal.list_workflows(query, limit=100):
            is_conversation = execution.workflow_type == CONVERSATION_WORKFLOW
            started_late = execution.start_time >= request.cutoff
            if execution.status == RUNNING:
                if not is_conversation:
                    return _verdict("busy", f"workflow {execution.id} is running")
                if started_late:
                    return _verdict("recent", f"conversation run {execution.id} started lately")
                conversations.append(execution)
            elif not is_conversation or started_late:
                return _verdict("recent", f"workflow {execution.id} ran after the cutoff")
        for execution in conversations:
            status = await self._status(execution)
            if status is not None and status.queued:
                return _verdict("busy", f"conversation {execution.id} has turns queued")
        return conversations

    async def _api_side(self, request: RetireThreadInput) -> RetireThreadOutput | None:
        """A verdict if the Threads API shows the thread gone or in use, else None."""
        threads, thread_id, cutoff = self._threads.threads, request.thread_id, request.cutoff
        at = int(cutoff.timestamp())
        with translated():
            try:
                thread = await threads.retrieve(thread_id)
                runs = (await threads.runs.list(thread_id, order="desc", limit=1)).data
                messages = (await threads.messages.list(thread_id, order="desc", limit=1)).data
            except NotFoundError:
                return RetireThreadOutput(verdict="gone")
        if runs and runs[0].status not in TERMINAL_RUN_STATUSES:
            return _verdict("busy", f"run {runs[0].id} is {runs[0].status}")
        written = [thread.created_at, *(r.created_at for r in runs), *(m.created_at for m in messages)]
        if max(written) >= at:
            return _verdict("recent", "the thread was written to after the cutoff")
        return None

    async def _status(self, execution: WorkflowExecution) -> ConversationStatus | None:
        handle = self._temporal.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            status: ConversationStatus = await handle.query(STATUS_QUERY, result_type=ConversationStatus)
        except RPCError:
            return None  # it ended meanwhile: nothing is queued on it
        return status

    async def _close(self, execution: WorkflowExecution, cutoff: datetime) -> None:
        """Close the conversation and wait for it to end (it finishes accepted turns first)."""
        handle = self._temporal.get_workflow_handle(execution.id)
        reason = CLOSE_REASON.format(cutoff=visibility_time(cutoff))
        try:
            await handle.execute_update(CLOSE_UPDATE, CloseConversation(reason=reason))
        except RPCError:
            pass  # it ended meanwhile
        await handle.result()
        activity.logger.info("closed idle conversation %s", execution.id)


def _verdict(verdict: Any, reason: str) -> RetireThreadOutput:
    return RetireThreadOutput(verdict=verdict, reason=reason)
