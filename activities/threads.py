"""`ThreadsActivities`: the turn's side effects on the Threads API, each idempotent under retry.

What the engine writes carries the turn key in its metadata (and a run its attempt number), and goes
with an `Idempotency-Key` derived from them. On a server known to honour keys (threadloom's own, which
says so on every answer) the key alone makes a retried write return the first one's object. Elsewhere,
or before the client has heard from the server, an activity first scans the thread newest-first, back
to a little before the turn started, for an object with its tags and adopts it. Either way a retry
after a lost answer, a re-run after a worker crash, or a replayed workflow task never posts a second
message or starts a second run.

Since the user message goes with the run (`additional_messages`, one write), adopting the run adopts
its message: the server stores both in one transaction, or neither.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from threadloom.activities.errors import busy_run_id, translated
from threadloom.activities.liveness import beat, heartbeating
from threadloom.activities.replies import reply_of, scan_reply
from threadloom.activities.snapshots import snapshot_of, tags_of
from threadloom.activities.watch import RunWatcher
from threadloom.threads_client import TERMINAL_RUN_STATUSES, BadRequestError, ThreadsClient
from threadloom.workflows.activity_contracts import (
    AddMessageInput,
    AddMessageOutput,
    CancelRunInput,
    CancelRunOutput,
    CreateRunInput,
    CreateRunOutput,
    FetchReplyInput,
    FetchReplyOutput,
    RunSnapshot,
    WaitForRunInput,
)
from threadloom.workflows.contracts import (
    ATTEMPT_TAG,
    TURN_KEY_TAG,
    ErrorType,
    PollSettings,
    UserMessage,
)
from threadloom.workflows.tool_contracts import SubmitToolOutputsInput, SubmitToolOutputsOutput

T = TypeVar("T")
SCAN_PAGE = 20
LIST_PAGE = 100
IDLE_POLL_SECONDS = (0.2, 2.0)
"""First and longest interval when waiting for a run to end (someone else's, or one we cancel)."""
ASSISTANT_CHECK_SECONDS = 300.0
"""For this long after an assistant was found, the turns of this worker do not look it up again."""


class ThreadsActivities:
    """Activities of `TurnWorkflow`, bound to one `ThreadsClient` (built with `max_retries=0`)."""

    def __init__(self, client: ThreadsClient) -> None:
        self._client = client
        self._assistants_seen: dict[str, float] = {}

    @activity.defn
    async def add_message(self, request: AddMessageInput) -> AddMessageOutput:
        """Post the user message tagged with the turn key, or adopt the tagged one already there."""
        tags = {TURN_KEY_TAG: request.turn_key}
        if not self._keys_suffice(request.not_before):
            with translated():
                messages = self._client.threads.messages.list(
                    request.thread_id, order="desc", limit=SCAN_PAGE
                )
                found = await _find_tagged(messages, tags, request.not_before)
            if found is not None:
                activity.logger.info("adopted message %s of turn %s", found.id, request.turn_key)
                return AddMessageOutput(message_id=found.id, adopted=True)
        await self._check_assistant(request.assistant_id)
        message = request.message

        async def post() -> Any:
            return await self._client.threads.messages.create(
                request.thread_id,
                content=message.text,
                attachments=message.attachments or None,
                metadata={**message.metadata, **tags},
                idempotency_key=_key(request.thread_id, request.turn_key, "message"),
            )

        created = await self._when_idle(request.thread_id, request.thread_busy_wait_seconds, post)
        return AddMessageOutput(message_id=created.id)

    @activity.defn
    async def create_run(self, request: CreateRunInput) -> CreateRunOutput:
        """Create the turn's run number `attempt`, or adopt the tagged one already there."""
        tags = _run_tags(request.turn_key, request.attempt)
        if not self._keys_suffice(request.not_before):
            found = await self._find_run(request.thread_id, tags, request.not_before)
            if found is not None:
                activity.logger.info("adopted run %s of turn %s", found.id, request.turn_key)
                return CreateRunOutput(run_id=found.id, status=found.status, adopted=True)

        async def post() -> Any:
            run = request.run
            return await self._client.threads.runs.create(
                request.thread_id,
                assistant_id=request.assistant_id,
                additional_messages=_with_run(request.message, request.turn_key),
                metadata={**run.metadata, **tags},
                model=run.model,
                instructions=run.instructions,
                additional_instructions=run.additional_instructions,
                tools=run.tools,
                temperature=run.temperature,
                top_p=run.top_p,
                max_prompt_tokens=run.max_prompt_tokens,
                max_completion_tokens=run.max_completion_tokens,
                truncation_strategy=run.truncation_strategy,
                tool_choice=run.tool_choice,
                parallel_tool_calls=run.parallel_tool_calls,
                response_format=run.response_format,
                idempotency_key=_key(request.thread_id, request.turn_key, f"run-{request.attempt}"),
            )

        async def ours(run_id: str) -> Any:
            run = await self._client.threads.runs.retrieve(request.thread_id, run_id)
            return run if _has_tags(run, tags) else None

        try:
            run = await self._when_idle(
                request.thread_id, request.thread_busy_wait_seconds, post, adopt=ours
            )
        except ApplicationError:
            # Perhaps the assistant is gone: the next turn looks it up before writing anything.
            self._assistants_seen.pop(request.assistant_id, None)
            raise
        return CreateRunOutput(
            run_id=run.id, status=run.status, run=await self._first_read(request, run)
        )

    async def _first_read(self, request: CreateRunInput, run: Any) -> RunSnapshot | None:
        """The run read once more right after creating it, if asked (a quick run has ended)."""
        if request.first_read_wait_ms is None:
            return None
        watch = WaitForRunInput(
            thread_id=request.thread_id,
            run_id=run.id,
            deadline=datetime.now(UTC) + timedelta(milliseconds=request.first_read_wait_ms + 1),
            poll=PollSettings(),
            reply_turn_key=request.turn_key,
        )
        with translated():
            return await RunWatcher(self._client, watch).look(run.status, request.first_read_wait_ms)

    @activity.defn
    async def wait_for_run(self, request: WaitForRunInput) -> RunSnapshot:
        """Wait (heartbeating) until the run needs action, ends, or its deadline passes."""
        async with heartbeating():
            with translated():
                return await RunWatcher(self._client, request).watch()

    @activity.defn
    async def cancel_run(self, request: CancelRunInput) -> CancelRunOutput:
        """Cancel the run if still active and wait briefly until it is; idempotent."""
        runs, thread_id = self._client.threads.runs, request.thread_id
        run_id = request.run_id
        if run_id is None:
            tags = _run_tags(request.turn_key, request.attempt)
            found = await self._find_run(thread_id, tags, request.not_before)
            if found is None:
                return CancelRunOutput(status="not_created")
            run_id = found.id
        with translated():
            run = await runs.retrieve(thread_id, run_id)
            if run.status not in TERMINAL_RUN_STATUSES and run.status != "cancelling":
                try:
                    run = await runs.cancel(thread_id, run_id)
                except BadRequestError:
                    run = await runs.retrieve(thread_id, run_id)  # it ended meanwhile
            deadline = time.monotonic() + request.settle_seconds
            if run.status not in TERMINAL_RUN_STATUSES:
                await self._wait_until_ended(thread_id, run_id, deadline)
                run = await runs.retrieve(thread_id, run_id)
        return CancelRunOutput(status=run.status, run=snapshot_of(run))

    @activity.defn
    async def submit_tool_outputs(self, request: SubmitToolOutputsInput) -> SubmitToolOutputsOutput:
        """Submit one round's outputs; a run no longer waiting for these calls had them already."""
        runs, outputs = self._client.threads.runs, [o.model_dump() for o in request.outputs]
        with translated():
            try:
                run = await runs.submit_tool_outputs(
                    request.thread_id, request.run_id, tool_outputs=outputs
                )
            except BadRequestError:
                run = await runs.retrieve(request.thread_id, request.run_id)
                waiting = {call.id for call in run.tool_calls}
                if run.status == "requires_action" and waiting & {o["tool_call_id"] for o in outputs}:
                    raise  # still waiting for these very calls: the outputs were wrong
                return SubmitToolOutputsOutput(status=run.status, already_submitted=True)
        return SubmitToolOutputsOutput(status=run.status)

    @activity.defn
    async def fetch_reply(self, request: FetchReplyInput) -> FetchReplyOutput:
        """Read the assistant messages of the run, in order, across all pages.

        With a turn key, read the thread newest first back to the turn's user message instead.
        """
        messages = self._client.threads.messages
        with translated():
            if request.turn_key is not None:
                newest_first = messages.list(request.thread_id, order="desc", limit=LIST_PAGE)
                not_before = request.not_before or 0
                return await scan_reply(newest_first, request.run_id, request.turn_key, not_before)
            own = messages.list(request.thread_id, run_id=request.run_id, order="asc", limit=LIST_PAGE)
            return reply_of([message async for message in own])

    def _keys_suffice(self, not_before: int) -> bool:
        """Whether the server is known to honour `Idempotency-Key` for long enough for this turn.

        A key is remembered for the server's retention; a turn older than half of it scans too.
        """
        retention = self._client.idempotency_retention
        return retention is not None and time.time() - not_before < retention / 2

    async def _check_assistant(self, assistant_id: str) -> None:
        """Fail with `ASSISTANT_NOT_FOUND` before writing anything if the assistant is gone.

        The run would fail on a bad id anyway; checking first leaves the thread without a stray
        user message. A found assistant is not looked up again for `ASSISTANT_CHECK_SECONDS`
        (unless a run creation fails), so one deleted within that window still costs one turn a
        stray user message.
        """
        seen = self._assistants_seen.get(assistant_id)
        if seen is not None and time.monotonic() - seen < ASSISTANT_CHECK_SECONDS:
            return
        with translated(not_found=ErrorType.ASSISTANT_NOT_FOUND):
            await self._client.assistants.retrieve(assistant_id)
        if len(self._assistants_seen) >= 1024:
            self._assistants_seen.clear()
        self._assistants_seen[assistant_id] = time.monotonic()

    async def _find_run(self, thread_id: str, tags: dict[str, str], not_before: int) -> Any:
        """The run carrying `tags` on the thread, if one was created."""
        with translated():
            runs = self._client.threads.runs.list(thread_id, order="desc", limit=SCAN_PAGE)
            return await _find_tagged(runs, tags, not_before)

    async def _when_idle(
        self,
        thread_id: str,
        wait_seconds: float,
        write: Callable[[], Awaitable[T]],
        *,
        adopt: Callable[[str], Awaitable[T | None]] | None = None,
    ) -> T:
        """Run `write`; while another run locks the thread, wait for it to end (or `adopt` it)."""
        deadline = time.monotonic() + wait_seconds
        with translated():
            while True:
                try:
                    return await write()
                except BadRequestError as err:
                    run_id = busy_run_id(err)
                    if run_id is None:
                        raise
                adopted = await adopt(run_id) if adopt else None
                if adopted is not None:
                    return adopted
                activity.logger.info("thread %s is locked by run %s: waiting", thread_id, run_id)
                if not await self._wait_until_ended(thread_id, run_id, deadline):
                    raise ApplicationError(
                        f"thread {thread_id} is busy with run {run_id} (waited {wait_seconds:g}s)",
                        {"thread_id": thread_id, "run_id": run_id},
                        type=ErrorType.THREAD_BUSY,
                        non_retryable=True,
                    )

    async def _wait_until_ended(self, thread_id: str, run_id: str, deadline: float) -> bool:
        """Poll the run until it is terminal (True) or `deadline` (monotonic) passes (False)."""
        delay, longest = IDLE_POLL_SECONDS
        while True:
            run = await self._client.threads.runs.retrieve(thread_id, run_id)
            if run.status in TERMINAL_RUN_STATUSES:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            beat(run.status)
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 1.5, longest)


def _with_run(message: UserMessage | None, turn_key: str) -> list[dict[str, Any]] | None:
    """The `additional_messages` of a run that posts the turn's user message, tagged."""
    if message is None:
        return None
    posted: dict[str, Any] = {
        "role": "user",
        "content": message.text,
        "metadata": {**message.metadata, TURN_KEY_TAG: turn_key},
    }
    if message.attachments:
        posted["attachments"] = message.attachments
    return [posted]


def _key(thread_id: str, turn_key: str, write: str) -> str:
    """The `Idempotency-Key` of one of a turn's writes: the same for every retry of it."""
    return f"threadloom:{thread_id}:{turn_key}:{write}"


def _run_tags(turn_key: str, attempt: int) -> dict[str, str]:
    return {TURN_KEY_TAG: turn_key, ATTEMPT_TAG: str(attempt)}


def _has_tags(obj: Any, tags: dict[str, str]) -> bool:
    metadata = tags_of(obj)
    return all(metadata.get(key) == value for key, value in tags.items())


async def _find_tagged(items: AsyncIterable[Any], tags: dict[str, str], not_before: int) -> Any:
    """The newest item carrying `tags`, scanning newest-first back to `not_before` (Unix s)."""
    async for item in items:
        if item.created_at < not_before:
            return None
        if _has_tags(item, tags):
            return item
    return None
