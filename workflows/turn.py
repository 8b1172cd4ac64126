"""`TurnWorkflow`: one durable conversation turn (DESIGN.md, "The data flow of one turn").

create run, posting the user message with it → read it once → wait for run, unless that read saw it
end → (stuck, expired or transiently failed: cancel, new run) → the reply, carried by the last read
where the server sends it, else fetched; a run that asks for tool calls gets them answered
(`workflows.tool_rounds`) and is waited on again. The short Threads API calls run as local
activities and the long wait as one heartbeating activity: a happy turn whose run is quick is one
local activity, 2 Threads API requests and 8 history events on threadloom's server (the patch
marker comes with the SDK's `TemporalChangeVersion` upsert). Turns started
before `MESSAGE_WITH_RUN_PATCH` add the message first and always wait and fetch (14 events).
Deterministic code only: time from `workflow.now()`, logs through `workflow.logger`, I/O in activities.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, is_cancelled_exception

# Shared with the worker outside the sandbox: the activities (for their names) and the contracts.
# The workflow logic itself (this module, `outcomes`, `tool_rounds`, ...) runs inside the sandbox,
# which is what checks it for non-determinism.
with workflow.unsafe.imports_passed_through():
    from threadloom.activities.threads import ThreadsActivities
    from threadloom.workflows.activity_contracts import (
        AddMessageInput,
        CancelRunInput,
        CreateRunInput,
        FetchReplyInput,
        FetchReplyOutput,
        RunSnapshot,
        WaitForRunInput,
    )
    from threadloom.workflows.contracts import (
        ASSISTANT_ID,
        CONVERSATION_ID,
        THREAD_ID,
        TURN_WORKFLOW,
        ErrorType,
        ProgressQuery,
        RunAttempt,
        RunOutcome,
        TurnPhase,
        TurnPolicy,
        TurnProgress,
        TurnRequest,
        TurnResult,
        TurnTimings,
    )
    from threadloom.workflows.tool_contracts import SubmitToolOutputsInput, ToolDescription

from threadloom.workflows import activity_options as opts
from threadloom.workflows import rate_limits
from threadloom.workflows.outcomes import classify, error_details, failure_for, retryable, turn_failure
from threadloom.workflows.tool_rounds import describe_tools, run_tool_round

SCAN_SLACK_SECONDS = 120
"""How far before the turn's start an object it wrote may be dated (clock skew between services)."""
BUSY_THREAD_PATCH = "busy-thread-wait-in-workflow"
"""Since this patch, a turn waits out another client's run on a durable timer between quick write
attempts (so a cancel or a worker crash interrupts it at once), instead of inside the write's local
activity. Histories from before it replay their in-activity wait."""
BUSY_RECHECK_SECONDS = (0.5, 5.0)
"""First and longest pause before trying a write again on a thread another run holds."""
RUN_STATUS_PATCH = "cancel-learns-run-completed"
"""Since this patch a timed-out wait whose run turns out `completed` when cancelled keeps that run
(and its reply) instead of starting another."""
RATE_LIMIT_WAIT_PATCH = "rate-limit-waits-retry-after"
"""Since this patch the next run after a `rate_limit_exceeded` run waits the `Retry-After` the server
carried in `last_error.retry_after_seconds`. Superseded by `rate_limits.RATE_LIMIT_BACKOFF_PATCH`
(backoff within the turn's deadline); kept for the turns recorded between the two."""
MESSAGE_WITH_RUN_PATCH = "message-posted-with-run"
"""Since this patch the user message is posted with the turn's first run (`additional_messages`), the
run is read once right after it is created (a run that has ended or needs tool outputs there skips
the wait activity), and the reply comes with the read that saw the run end where the server sends
it; else `fetch_reply` reads it, finding the user message by its tag."""
WAITING_STATUSES = ("queued", "in_progress", "cancelling")
T = TypeVar("T")


@workflow.defn(name=TURN_WORKFLOW)
class TurnWorkflow:
    """Runs one turn: the result is the assistant's reply, a failure a typed `ApplicationError`."""

    def __init__(self) -> None:
        self._progress = TurnProgress(phase="starting")
        self._not_before = 0

    @workflow.query
    def progress(self, query: ProgressQuery | None = None) -> TurnProgress:
        """Where the turn is now: phase, attempt, run id."""
        return self._progress

    @workflow.run
    async def run(self, request: TurnRequest) -> TurnResult:
        """Run the turn described by `request`."""
        request = request.keyed(workflow.info().workflow_id)
        self._upsert_search_attributes(request)
        try:
            return await self._turn(request)
        except BaseException as err:
            if is_cancelled_exception(err):
                await self._cancel_on_cancellation(request)
            raise

    async def _turn(self, request: TurnRequest) -> TurnResult:
        started_at = workflow.now()
        not_before = self._not_before = int(started_at.timestamp()) - SCAN_SLACK_SECONDS
        policy = request.policy
        tools = await describe_tools(request.tools) if request.tools else None
        run_options = request.run
        if tools is not None:
            own = [tool.definition for tool in tools.values()]
            run_options = run_options.model_copy(update={"tools": [*(run_options.tools or []), *own]})

        with_run = workflow.patched(MESSAGE_WITH_RUN_PATCH)
        user_message_id = None if with_run else await self._add_message(request, not_before)
        message_added_at = workflow.now()

        attempts: list[RunAttempt] = []
        snapshot: RunSnapshot | None = None
        gives_up = rate_limits.turn_deadline(policy, started_at)
        counted = rate_limited = attempt = 0  # runs that use up max_run_attempts; limited in a row
        while True:
            attempt += 1
            run_started = workflow.now()
            self._set_phase("creating_run", attempt=attempt)
            posts_message = with_run and attempt == 1
            created = await self._write(
                policy,
                lambda wait, attempt=attempt, posts=posts_message: (  # type: ignore[misc]
                    workflow.execute_local_activity_method(
                        ThreadsActivities.create_run,
                        CreateRunInput(
                            thread_id=request.thread_id,
                            assistant_id=request.assistant_id,
                            turn_key=request.key,
                            not_before=not_before,
                            thread_busy_wait_seconds=wait,
                            attempt=attempt,
                            run=run_options,
                            message=request.message if posts else None,
                            first_read_wait_ms=policy.poll.first_read_wait_ms if with_run else None,
                        ),
                        summary=(
                            f"create run (attempt {attempt}/{policy.max_run_attempts})"
                            if attempt <= policy.max_run_attempts
                            else f"create run (attempt {attempt}, after rate limits)"
                        )
                        + (" with the user message" if posts else ""),
                        **opts.write_options(policy),
                    )
                ),
            )
            if posts_message:
                message_added_at = workflow.now()
            self._set_phase("waiting", attempt=attempt, run_id=created.run_id)
            deadline = run_started + timedelta(seconds=policy.run_deadline_seconds)
            if policy.turn_deadline_seconds is not None:  # a field newer than every old history
                deadline = min(deadline, gives_up)
            snapshot = created.run
            if snapshot is None or snapshot.status in WAITING_STATUSES:
                snapshot = await self._wait_for_run(request, created.run_id, deadline, with_run)
            if tools is not None:
                snapshot = await self._answer_tool_calls(request, tools, snapshot, deadline, with_run)
            outcome = classify(snapshot)
            attempts.append(self._attempt(attempt, snapshot, outcome, run_started))
            if outcome in ("completed", "incomplete"):
                break
            if outcome in ("timed_out", "requires_action"):
                ended = await self._cancel_run(request, created.run_id)
                if ended is not None and outcome == "timed_out" and workflow.patched(RUN_STATUS_PATCH):
                    # The wait gave up (say, the API was unreachable past the deadline) on a run
                    # that finished after all: its reply stands, no second run.
                    snapshot, outcome = ended, classify(ended)
                    attempts[-1] = self._attempt(attempt, snapshot, outcome, run_started)
                    break
            backs_off = rate_limits.is_rate_limited(snapshot) and workflow.patched(
                rate_limits.RATE_LIMIT_BACKOFF_PATCH
            )
            rate_limited = rate_limited + 1 if backs_off else 0
            counted += 0 if backs_off else 1
            out_of_time = policy.turn_deadline_seconds is not None and workflow.now() >= gives_up
            if (
                not retryable(outcome, snapshot.error_code)
                or counted == policy.max_run_attempts
                or (out_of_time and not backs_off)
            ):
                raise failure_for(outcome, snapshot, attempts=len(attempts))
            workflow.logger.info("run %s ended %s: starting a new run", created.run_id, outcome)
            if backs_off:
                await rate_limits.wait_out(policy, snapshot, rate_limited, gives_up, runs=len(attempts))
            else:
                await self._wait_out_rate_limit(snapshot, policy)
        assert snapshot is not None  # the loop runs at least once and breaks or raises
        run_completed_at = workflow.now()

        reply = snapshot.reply
        if reply is None:
            reply = await self._fetch_reply(request, snapshot.run_id, with_run and not user_message_id)
        user_message_id = user_message_id or reply.user_message_id or ""
        self._progress = self._progress.model_copy(update={"user_message_id": user_message_id})
        self._set_phase("done", run_id=snapshot.run_id)
        return TurnResult(
            reply=reply.text,
            content=reply.content,
            reply_message_ids=reply.message_ids,
            user_message_id=user_message_id,
            run_id=snapshot.run_id,
            status="completed" if snapshot.status == "completed" else "incomplete",
            incomplete_reason=snapshot.incomplete_reason,
            usage=snapshot.usage,
            attempts=attempts,
            timings=TurnTimings(
                started_at=started_at,
                message_added_at=message_added_at,
                run_completed_at=run_completed_at,
                finished_at=workflow.now(),
            ),
        )

    async def _add_message(self, request: TurnRequest, not_before: int) -> str:
        """Post the user message on its own (turns started before `MESSAGE_WITH_RUN_PATCH`)."""
        self._set_phase("adding_message")
        added = await self._write(
            request.policy,
            lambda wait: workflow.execute_local_activity_method(
                ThreadsActivities.add_message,
                AddMessageInput(
                    thread_id=request.thread_id,
                    assistant_id=request.assistant_id,
                    turn_key=request.key,
                    not_before=not_before,
                    thread_busy_wait_seconds=wait,
                    message=request.message,
                ),
                summary="add message",
                **opts.write_options(request.policy),
            ),
        )
        self._progress = self._progress.model_copy(update={"user_message_id": added.message_id})
        return added.message_id

    async def _fetch_reply(
        self, request: TurnRequest, run_id: str, find_message: bool
    ) -> FetchReplyOutput:
        """Read the reply (and with `find_message` the user message posted with the run)."""
        self._set_phase("fetching_reply", run_id=run_id)
        with turn_failure():
            return await workflow.execute_local_activity_method(
                ThreadsActivities.fetch_reply,
                FetchReplyInput(
                    thread_id=request.thread_id,
                    run_id=run_id,
                    turn_key=request.key if find_message else None,
                    not_before=self._not_before if find_message else None,
                ),
                summary=f"fetch reply of {run_id}",
                **opts.read_options(),
            )

    async def _answer_tool_calls(
        self,
        request: TurnRequest,
        tools: dict[str, ToolDescription],
        snapshot: RunSnapshot,
        deadline: datetime,
        with_reply: bool,
    ) -> RunSnapshot:
        """While the run asks for tool calls: run them, submit the outputs, wait again."""
        rounds = 0
        while snapshot.status == "requires_action" and rounds < request.policy.max_tool_rounds:
            rounds += 1
            run_id = snapshot.run_id
            self._set_phase("calling_tools", run_id=run_id)
            try:
                outputs = await run_tool_round(
                    tools, snapshot.tool_calls, thread_id=request.thread_id, run_id=run_id
                )
            except ApplicationError:
                await self._cancel_run(request, run_id)
                raise
            with turn_failure():
                await workflow.execute_local_activity_method(
                    ThreadsActivities.submit_tool_outputs,
                    SubmitToolOutputsInput(thread_id=request.thread_id, run_id=run_id, outputs=outputs),
                    summary=f"submit {len(outputs)} tool output(s) to {run_id}",
                    **opts.read_options(),
                )
            self._set_phase("waiting", run_id=run_id)
            snapshot = await self._wait_for_run(request, run_id, deadline, with_reply)
        return snapshot

    async def _wait_for_run(
        self, request: TurnRequest, run_id: str, deadline: datetime, with_reply: bool
    ) -> RunSnapshot:
        """Wait for the run; a wait cut short by its own timeout counts as a passed deadline.

        `with_reply` asks for the reply with the read that sees the run end.
        """
        try:
            with turn_failure(passthrough_timeouts=True):
                return await workflow.execute_activity_method(
                    ThreadsActivities.wait_for_run,
                    WaitForRunInput(
                        thread_id=request.thread_id,
                        run_id=run_id,
                        deadline=deadline,
                        poll=request.policy.poll,
                        reply_turn_key=request.key if with_reply else None,
                    ),
                    summary=f"wait for run {run_id}",
                    **opts.wait_options(request.policy, deadline - workflow.now()),
                )
        except ActivityError as err:
            if not isinstance(err.cause, TimeoutError):
                raise
            workflow.logger.warning("wait for run %s timed out: %s", run_id, err.cause)
            return RunSnapshot(run_id=run_id, status="unknown", deadline_passed=True)

    @staticmethod
    async def _wait_out_rate_limit(snapshot: RunSnapshot, policy: TurnPolicy) -> None:
        """After a rate-limited run, wait as long as the model backend asked (bounded by a run's
        deadline) before the next run, on a durable timer."""
        wait = snapshot.retry_after_seconds
        if not wait or snapshot.error_code != "rate_limit_exceeded":
            return
        if not workflow.patched(RATE_LIMIT_WAIT_PATCH):
            return
        wait = min(wait, policy.run_deadline_seconds)
        workflow.set_current_details(f"rate limited · next run in {wait:g}s")
        await workflow.sleep(wait, summary=f"rate limited: wait {wait:g}s")

    async def _cancel_on_cancellation(self, request: TurnRequest) -> None:
        """The turn is being cancelled: stop its run, even one whose creation was under way."""
        phase, run_id = self._progress.phase, self._progress.run_id
        if phase == "creating_run":
            await self._cancel_run(request, None)  # found by its tags, if it was created
        elif run_id is not None and phase not in ("fetching_reply", "done"):
            await self._cancel_run(request, run_id)

    async def _cancel_run(self, request: TurnRequest, run_id: str | None) -> RunSnapshot | None:
        """Cancel the run, best effort: a failure to cancel is logged, never raised.

        Returns the run if cancelling found it already `completed` or `incomplete`. A cancellation
        of the turn itself while this runs is raised: the caller's cleanup cancels the run again.
        """
        attempt = self._progress.attempt
        self._set_phase("cancelling", run_id=run_id)
        try:
            cancelled = await workflow.execute_local_activity_method(
                ThreadsActivities.cancel_run,
                CancelRunInput(
                    thread_id=request.thread_id,
                    run_id=run_id,
                    turn_key=request.key,
                    attempt=attempt,
                    not_before=self._not_before,
                ),
                summary=f"cancel run {run_id or f'of attempt {attempt}'}",
                **opts.cancel_options(),
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            workflow.logger.warning("could not cancel run %s: %s", run_id, err.cause or err)
            return None
        run = cancelled.run
        return run if run is not None and run.status in ("completed", "incomplete") else None

    async def _write(self, policy: TurnPolicy, write: Callable[[float], Awaitable[T]]) -> T:
        """Run a write activity; while another client's run holds the thread, wait and try again.

        `write(wait)` starts the activity with `wait` seconds to wait inside it for a busy thread:
        0 since `BUSY_THREAD_PATCH`, whose durable timers in between also show in the history.
        """
        give_up = workflow.now() + timedelta(seconds=policy.thread_busy_wait_seconds)
        delay, longest = BUSY_RECHECK_SECONDS
        while True:
            try:
                with turn_failure():
                    return await write(0.0)
            except ApplicationError as err:
                if err.type != ErrorType.THREAD_BUSY or not workflow.patched(BUSY_THREAD_PATCH):
                    raise
                left = (give_up - workflow.now()).total_seconds()
                if left <= 0:
                    raise _busy_for(err, policy.thread_busy_wait_seconds) from err
                details = error_details(err)
                workflow.set_current_details(
                    f"{self._progress.phase.replace('_', ' ')} · thread busy with run "
                    f"{details.get('run_id', '?')} · next try in {min(delay, left):g}s"
                )
            await workflow.sleep(min(delay, left))
            delay = min(delay * 2, longest)

    def _set_phase(self, phase: TurnPhase, *, attempt: int = 0, run_id: str | None = None) -> None:
        """Record the phase for the `progress` query and the UI's current details."""
        self._progress = self._progress.model_copy(
            update={
                "phase": phase,
                "attempt": attempt or self._progress.attempt,
                "run_id": run_id or self._progress.run_id,
            }
        )
        details = f"{phase.replace('_', ' ')}"
        if self._progress.attempt:
            details += f" · attempt {self._progress.attempt}"
        if self._progress.run_id:
            details += f" · run {self._progress.run_id}"
        workflow.set_current_details(details)

    @staticmethod
    def _attempt(
        attempt: int, snapshot: RunSnapshot, outcome: RunOutcome, started_at: datetime
    ) -> RunAttempt:
        return RunAttempt(
            attempt=attempt,
            run_id=snapshot.run_id,
            outcome=outcome,
            error_code=snapshot.error_code,
            error_message=snapshot.error_message,
            started_at=started_at,
            finished_at=workflow.now(),
        )

    @staticmethod
    def _upsert_search_attributes(request: TurnRequest) -> None:
        """Set the search attributes the starter did not set already (one event, only if needed)."""
        current = workflow.info().typed_search_attributes
        wanted = [
            (THREAD_ID, request.thread_id),
            (ASSISTANT_ID, request.assistant_id),
            (CONVERSATION_ID, request.conversation_id),
        ]
        updates = [
            key.value_set(value)
            for key, value in wanted
            if value is not None and current.get(key) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)


def _busy_for(err: ApplicationError, waited: float) -> ApplicationError:
    """`ThreadBusy` after waiting `waited` seconds in all, naming the run that holds the thread."""
    details = error_details(err)
    thread_id, run_id = details.get("thread_id", "?"), details.get("run_id", "?")
    return ApplicationError(
        f"thread {thread_id} is busy with run {run_id} (waited {waited:g}s)",
        *err.details,
        type=ErrorType.THREAD_BUSY,
        non_retryable=True,
    )
