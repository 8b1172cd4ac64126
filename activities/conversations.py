"""`ConversationActivities`: a conversation's thread, and results of turns that ran before.

Both need to look back past the current workflow run: a conversation that ended idle (or was closed)
and starts again on the next turn finds its thread through the `ThreadId` search attribute of its
earlier runs (a new one if that thread was deleted meanwhile, e.g. by the janitor's retention); a
turn key resent after the conversation forgot it reads the turn workflow's result.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from threadloom.activities.errors import translated
from threadloom.activities.liveness import heartbeating
from threadloom.threads_client import NotFoundError, ThreadsClient
from threadloom.workflows.contracts import THREAD_ID, ErrorType, TurnResult
from threadloom.workflows.conversation_contracts import (
    CONVERSATION_TAG,
    OpenThreadInput,
    OpenThreadOutput,
    TurnResultInput,
)


class ConversationActivities:
    """Activities of `ConversationWorkflow`, bound to the Threads API and the Temporal client."""

    def __init__(self, threads: ThreadsClient, temporal: Client) -> None:
        self._threads = threads
        self._temporal = temporal

    @activity.defn
    async def open_thread(self, request: OpenThreadInput) -> OpenThreadOutput:
        """The thread of an earlier run of this conversation, else a new one.

        The new thread's `Idempotency-Key` is derived from the workflow run, so on a server that
        honours keys (threadloom's) a retry after a lost answer gets the same thread. Elsewhere it
        may leave one empty thread behind: the Threads API cannot list threads to adopt it by.
        """
        query = f'WorkflowId = "{request.workflow_id}"'
        async for execution in self._temporal.list_workflows(query, limit=20):
            if execution.run_id == request.current_run_id:
                continue
            thread_id = execution.typed_search_attributes.get(THREAD_ID)
            if thread_id and await self._still_there(thread_id):
                activity.logger.info(
                    "conversation %s resumes thread %s", request.conversation_id, thread_id
                )
                return OpenThreadOutput(thread_id=thread_id, created=False)
            if thread_id:  # deleted (the janitor's retention, or by hand): start afresh
                activity.logger.info(
                    "thread %s of conversation %s is gone: a new thread",
                    thread_id,
                    request.conversation_id,
                )
                break
        with translated():
            thread = await self._threads.threads.create(
                metadata={CONVERSATION_TAG: request.conversation_id},
                idempotency_key=f"threadloom:{request.workflow_id}:{request.current_run_id}:thread",
            )
        return OpenThreadOutput(thread_id=thread.id, created=True)

    async def _still_there(self, thread_id: str) -> bool:
        with translated():
            try:
                await self._threads.threads.retrieve(thread_id)
            except NotFoundError:
                return False
        return True

    @activity.defn
    async def turn_result(self, request: TurnResultInput) -> TurnResult:
        """The result of the turn workflow `workflow_id`, waiting while it runs; its failure, as such."""
        handle = self._temporal.get_workflow_handle(request.workflow_id, result_type=TurnResult)
        try:
            async with heartbeating():
                result: TurnResult = await handle.result()
        except WorkflowFailureError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                raise ApplicationError(
                    cause.message, *cause.details, type=cause.type, non_retryable=True
                ) from err
            raise ApplicationError(
                f"turn {request.workflow_id} ended without a result: {cause or err}",
                type=ErrorType.RUN_CANCELLED,
                non_retryable=True,
            ) from err
        return result
