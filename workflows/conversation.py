"""`ConversationWorkflow`: one conversation, one thread, turns one at a time (DESIGN.md).

Each turn is a `send_turn` update whose id is the turn key. The validator rejects bad turns before
anything reaches history; the handler queues the turn and waits for its record; the main loop runs the
queue strictly in arrival order, each turn as a child `TurnWorkflow` (`turn-{thread}-{key}`), so two
turns never race on the thread's run lock. A key seen before answers from the records (carried
across continue-as-new, bounded) or, further back, from the turn workflow itself: its id is fixed and
never reused, so the child start fails and the earlier result is read instead.

The run continues as new after `max_turns_per_run` turns or when history grows (Temporal's
suggestion or `max_history_events`), once the queue is empty and every handler has returned; it ends
after `idle_timeout_seconds` without turns, or on `close`; the next turn starts it again on the same
thread. Whether the run is due is decided by the main loop alone (`_due`), never by the validator:
history length and Temporal's suggestion change on every workflow task, and a task whose only jobs
are rejected updates does not wake the main loop, so a validator that judged "due" by itself could
turn every turn away from a run that never gets to continue as new.

Cancelling the conversation cancels its running turn, answers every accepted turn `TurnCancelled`,
and ends the run cancelled.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
from typing import Literal, NoReturn

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from threadloom.activities.conversations import ConversationActivities
    from threadloom.workflows import conversation_contracts as contracts
    from threadloom.workflows.contracts import (
        ASSISTANT_ID,
        CONVERSATION_ID,
        THREAD_ID,
        TurnRequest,
        TurnResult,
    )
    from threadloom.workflows.conversation_contracts import (
        CLOSE_UPDATE,
        CONVERSATION_RESTARTING,
        CONVERSATION_WORKFLOW,
        SEND_TURN_UPDATE,
        STATUS_QUERY,
        TURN_OUTCOME_UNKNOWN,
        CloseConversation,
        ConversationInput,
        ConversationStatus,
        ConversationSummary,
        OpenThreadInput,
        SendTurn,
        StatusQuery,
        TurnRecord,
        TurnResultInput,
    )

from threadloom.workflows import activity_options as opts
from threadloom.workflows.outcomes import error_details, turn_failure
from threadloom.workflows.turn import TurnWorkflow

CANCEL_ENDS_PATCH = "conversation-cancel-ends-it"
"""Since this patch a cancelled conversation ends cancelled; before it, it only lost its turn."""
EARLIER_TURN_PATCH = "earlier-turn-waited-in-activity"
"""Since this patch a resent turn whose workflow still runs is waited for in a heartbeating activity
as long as the turn may take; before it, a local activity gave up after two minutes."""


@workflow.defn(name=CONVERSATION_WORKFLOW)
class ConversationWorkflow:
    """Runs a conversation's turns in order; each update's result is that turn's `TurnResult`."""

    @workflow.init
    def __init__(self, start: ConversationInput) -> None:
        self._start = start
        self._thread_id = start.thread_id
        self._records: dict[str, TurnRecord] = {r.turn_key: r for r in start.recent}
        self._queue: deque[SendTurn] = deque()
        self._queued: set[str] = set()
        self._accepted = 0
        self._turns_this_run = 0
        self._turns_completed = start.turns_completed
        self._closing = False
        self._due = False

    @workflow.run
    async def run(self, start: ConversationInput) -> ConversationSummary:
        """Serve turns until idle, closed, or due to continue as new."""
        if self._thread_id is None:
            self._thread_id = await self._open_thread()
        if workflow.info().typed_search_attributes.get(THREAD_ID) != self._thread_id:
            workflow.upsert_search_attributes([THREAD_ID.value_set(self._thread_id)])
        idle = timedelta(seconds=start.limits.idle_timeout_seconds)
        while True:
            self._show("waiting for a turn")
            try:
                await workflow.wait_condition(
                    lambda: self._decide_due() or bool(self._queue) or self._closing,
                    timeout=idle,
                )
            except TimeoutError:
                if not self._queue and workflow.all_handlers_finished():
                    return self._summary("idle")
                continue
            if self._queue:
                await self._run_turn(self._queue.popleft())
                continue
            # Closing or due: finish what was accepted, then go.
            await workflow.wait_condition(lambda: bool(self._queue) or workflow.all_handlers_finished())
            if self._queue:
                continue
            if self._closing:
                return self._summary("closed")
            workflow.logger.info("conversation continues as new after %d turns", self._turns_this_run)
            workflow.continue_as_new(self._next_input())

    @workflow.update(name=SEND_TURN_UPDATE)
    async def send_turn(self, turn: SendTurn) -> TurnResult:
        """Run `turn` after the turns before it; a turn key seen before gets the same answer."""
        key = turn.turn_key
        if key not in self._records:
            if key not in self._queued:
                self._accepted += 1
                self._queued.add(key)
                self._queue.append(turn)
            await workflow.wait_condition(lambda: key in self._records)
        return _answer(self._records[key])

    @send_turn.validator
    def _validate_turn(self, turn: SendTurn) -> None:
        """Reject a bad turn before it is accepted (nothing is written to history)."""
        update = workflow.current_update_info()
        if update is not None and update.id != turn.turn_key:
            raise ValueError(f"the update id must be the turn key {turn.turn_key!r}")
        SendTurn.model_validate(turn.model_dump())
        self._turn_request(turn)  # the turn's own rules (tool counts, poll bounds, ...)
        known = turn.turn_key in self._records or turn.turn_key in self._queued
        # Once this run is due to continue as new, new turns wait for the next run: otherwise callers
        # that keep sending would keep its queue from draining, past every limit up to the cap.
        restarting = self._closing or self._due or self._accepted >= contracts.MAX_UPDATES_PER_RUN
        if not known and restarting:
            raise ApplicationError(
                "the conversation is closing or continuing as new: send the turn again",
                type=CONVERSATION_RESTARTING,
            )

    @workflow.update(name=CLOSE_UPDATE)
    async def close(self, request: CloseConversation) -> ConversationStatus:
        """End the conversation once the turns already accepted are done."""
        workflow.logger.info("conversation closing: %s", request.reason or "no reason given")
        self._closing = True
        return self.status()

    @workflow.query(name=STATUS_QUERY)
    def status(self, query: StatusQuery | None = None) -> ConversationStatus:
        """The thread, the turns done and queued."""
        return ConversationStatus(
            conversation_id=self._start.conversation_id,
            thread_id=self._thread_id,
            turns_completed=self._turns_completed,
            queued=len(self._queue),
            closing=self._closing,
        )

    async def _open_thread(self) -> str:
        info = workflow.info()
        with turn_failure():
            opened = await workflow.execute_local_activity_method(
                ConversationActivities.open_thread,
                OpenThreadInput(
                    conversation_id=self._start.conversation_id,
                    workflow_id=info.workflow_id,
                    current_run_id=info.run_id,
                ),
                summary="open thread",
                **opts.read_options(),
            )
        return opened.thread_id

    async def _run_turn(self, turn: SendTurn) -> None:
        request = self._turn_request(turn)
        self._show(f"turn {self._turns_completed + 1} `{turn.turn_key}` running")
        try:
            result = await workflow.execute_child_workflow(
                TurnWorkflow.run,
                request,
                id=request.workflow_id,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                task_timeout=self._turn_task_timeout(),
                search_attributes=self._search_attributes(),
                static_summary=request.summary(),
                static_details=request.details(),
            )
            record = TurnRecord(turn_key=turn.turn_key, result=result)
        except WorkflowAlreadyStartedError:
            record = await self._earlier_record(request)
        except ChildWorkflowError as err:
            record = _failure_record(turn.turn_key, err.cause or err)
        if self._cancel_requested():  # whatever the turn did with the cancel, the conversation ends
            await self._end_cancelled(record)
        self._records[turn.turn_key] = record
        self._queued.discard(turn.turn_key)
        self._turns_completed += 1
        self._turns_this_run += 1

    async def _earlier_record(self, request: TurnRequest) -> TurnRecord:
        """The record of a turn that ran before this run knew of it."""
        summary = f"result of {request.workflow_id}"
        read = TurnResultInput(workflow_id=request.workflow_id)
        try:
            if workflow.patched(EARLIER_TURN_PATCH):
                result = await workflow.execute_activity_method(
                    ConversationActivities.turn_result,
                    read,
                    summary=summary,
                    **opts.earlier_turn_options(request.policy),
                )
            else:
                result = await workflow.execute_local_activity_method(
                    ConversationActivities.turn_result, read, summary=summary, **opts.read_options()
                )
        except ActivityError as err:
            return _failure_record(request.key, err.cause or err)
        return TurnRecord(turn_key=request.key, result=result)

    @staticmethod
    def _cancel_requested() -> bool:
        """Whether this conversation itself was cancelled (not only its turn, by someone else)."""
        return workflow.cancellation_reason() is not None and workflow.patched(CANCEL_ENDS_PATCH)

    async def _end_cancelled(self, current: TurnRecord) -> NoReturn:
        """Answer the running and every queued turn `TurnCancelled`, then end the run cancelled."""
        self._records[current.turn_key] = current
        while self._queue:
            queued = self._queue.popleft()
            self._records[queued.turn_key] = TurnRecord(
                turn_key=queued.turn_key,
                error_type="TurnCancelled",
                error_message="the conversation was cancelled before this turn ran",
            )
        self._queued.clear()
        self._closing = True  # turns arriving now are turned away
        await workflow.wait_condition(workflow.all_handlers_finished)
        raise asyncio.CancelledError(workflow.cancellation_reason() or "conversation cancelled")

    def _turn_request(self, turn: SendTurn) -> TurnRequest:
        return TurnRequest(
            thread_id=self._thread_id or "pending",
            assistant_id=self._start.assistant_id,
            conversation_id=self._start.conversation_id,
            message=turn.message,
            run=turn.run,
            tools=turn.tools,
            policy=turn.policy,
            turn_key=turn.turn_key,
        )

    def _search_attributes(self) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(THREAD_ID, self._thread_id or ""),
                SearchAttributePair(ASSISTANT_ID, self._start.assistant_id),
                SearchAttributePair(CONVERSATION_ID, self._start.conversation_id),
            ]
        )

    def _show(self, doing: str) -> None:
        """The current details in the UI: what the conversation does, its queue and its thread."""
        workflow.set_current_details(
            f"{doing} · {len(self._queue)} queued · {self._turns_completed} done"
            f" · thread `{self._thread_id}`"
        )

    def _decide_due(self) -> bool:
        """Whether the run is due to continue as new; only the main loop decides (module docstring)."""
        limits, info = self._start.limits, workflow.info()
        self._due = (
            self._turns_this_run >= limits.max_turns_per_run
            or self._accepted >= contracts.MAX_UPDATES_PER_RUN
            or info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= limits.max_history_events
        )
        return self._due

    def _turn_task_timeout(self) -> timedelta | None:
        """The starter's turn task timeout; conversations started without one give their own."""
        seconds = self._start.turn_task_timeout_seconds
        return timedelta(seconds=seconds) if seconds is not None else workflow.info().task_timeout

    def _next_input(self) -> ConversationInput:
        keep = self._start.limits.remembered_turns
        recent: list[TurnRecord] = []
        budget = contracts.MAX_REMEMBERED_BYTES
        for record in reversed(list(self._records.values())[-keep:] if keep else []):
            budget -= len(record.model_dump_json())  # the newest first, while they fit
            if budget < 0:
                break
            recent.append(record)
        recent.reverse()
        return self._start.model_copy(
            update={
                "thread_id": self._thread_id,
                "turns_completed": self._turns_completed,
                "recent": recent,
            }
        )

    def _summary(self, ended: Literal["idle", "closed"]) -> ConversationSummary:
        return ConversationSummary(
            conversation_id=self._start.conversation_id,
            thread_id=self._thread_id,
            turns_completed=self._turns_completed,
            ended=ended,
        )


def _answer(record: TurnRecord) -> TurnResult:
    if record.result is not None:
        return record.result
    raise ApplicationError(
        record.error_message,
        record.error_details,
        type=record.error_type,
        non_retryable=True,
    )


def _failure_record(turn_key: str, cause: BaseException) -> TurnRecord:
    if isinstance(cause, ApplicationError):
        details = error_details(cause)
        return TurnRecord(
            turn_key=turn_key,
            error_type=cause.type or "TurnError",
            error_message=cause.message,
            error_details=details,
        )
    if is_cancelled_exception(cause):
        return TurnRecord(turn_key=turn_key, error_type="TurnCancelled", error_message=str(cause))
    # A timeout reading an earlier turn's result says nothing of how that turn ended.
    return TurnRecord(
        turn_key=turn_key,
        error_type=TURN_OUTCOME_UNKNOWN,
        error_message=f"the turn's outcome could not be read ({cause}): send it again later",
    )
