"""Streamed turns: the bodies of `Threadloom.stream_turn`, `stream_events` and `stream_send`.

The turn runs as ever, durably, in its `TurnWorkflow`; the stream is read beside it. The backend
finds the turn's runs by their tags (turn key, attempt number) and reads each run's events from the
threads server's re-attachable run event stream (`threads_server.routes_run_events`, advertised by
`threadloom-run-events`), reconnecting from the last event id it saw. No delta passes through
Temporal, so streaming adds no history events, and a worker killed mid-stream does not interrupt it:
the run goes on on the server and the new worker adopts the wait. The final event carries the
workflow's `TurnResult`. Why this mechanism and not Temporal's Workflow Streams: README, "Streaming
turns" (measured by `threadloom bench`).

Offsets are given by one deterministic reading of the turn (its runs in attempt order, each run's
logged events in order, then the end), so every subscriber numbers the same events alike and a
reconnect with `after` skips what it saw. Where the Threads API has no such stream (OpenAI-style
servers stream only at run creation) the turn is not streamed: `NotStreamed`, then the whole reply
as one delta when the turn ends, never a second run. If the text streamed for the last run is not
the reply exactly (its events were no longer kept, say), `RunRestarted` and the whole reply follow,
so the invariant of `stream_events` holds in every case.

Beside the reading, a watcher looks at the turn's workflow once a second (`WATCH_SECONDS`): when a
worker was lost mid-turn and another took over, a `Resumed` notice goes out. It is not part of the
deterministic reading, so it carries the offset of the event before it and is not replayed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.failure.v1 import Failure, TimeoutFailureInfo
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from threadloom.starter.errors import TurnError
from threadloom.starter.settings import Settings
from threadloom.starter.stream_events import (
    NotStreamed,
    Resumed,
    RunRestarted,
    RunStatus,
    StreamError,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnEvent,
    TurnFinished,
    with_offset,
)
from threadloom.starter.threads_api import threads_client
from threadloom.threads_client import ThreadsClient
from threadloom.threads_client._streaming import SSEDecoder
from threadloom.threads_client.errors import (
    APIConnectionError,
    APIStatusError,
    NotFoundError,
    ThreadsError,
)
from threadloom.workflows.contracts import (
    TURN_WORKFLOW,
    TurnRequest,
    TurnResult,
    turn_workflow_id,
)
from threadloom.workflows.conversation_contracts import (
    STATUS_QUERY,
    ConversationStatus,
    conversation_workflow_id,
)

if TYPE_CHECKING:
    from threadloom.starter.api import Threadloom

ADVERTISE_HEADER = "threadloom-run-events"
"""Sent on every answer of a threads server with the re-attachable run event stream."""
HOLD_MS = 5000
"""How long one lookup of the turn's next run is held on threadloom's server."""
FIND_RUN_SECONDS = (0.02, 0.25)
"""First and longest pause between two looks for the turn's next run."""
RECONNECTS = 5
WATCH_SECONDS = 1.0
"""How often a live stream looks at the turn's pending activities for a replaced worker."""
WORKER_LOST = frozenset({TimeoutType.TIMEOUT_TYPE_HEARTBEAT, TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE})
"""The timeouts of an activity attempt that say its worker is gone."""
"""Connections to one run's stream that may drop in a row before the turn is read unstreamed."""
TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
REPLY_SEPARATOR = "\n\n"
"""Between the texts of two messages of one run, as `TurnResult.reply` joins them."""


class _Unstreamable(Exception):
    """The Threads API gives no re-attachable stream of this run."""


async def stream_events(
    loom: Threadloom,
    workflow_id: str,
    *,
    after: int | None = None,
    request: TurnRequest | None = None,
    threads: ThreadsClient | None = None,
) -> AsyncIterator[TurnEvent]:
    """The events of turn `workflow_id` with offsets above `after` (see `Threadloom.stream_events`).

    `request`: the turn's request, if known (else read from its history); `threads`: the Threads
    API client to read the runs with (default: one built from the settings).
    """
    last = -1
    async for event in _numbered(_turn_events(loom, workflow_id, request, threads)):
        if isinstance(event, Resumed):
            if after is None or event.offset >= after:
                yield event  # seen live only, so never twice
            continue
        last = event.offset
        if after is None or event.offset > after:
            yield event
    if after is not None and after > last:
        raise StreamError(
            f"offset {after} is past the end of turn {workflow_id} (its last event is {last})",
            details={"workflow_id": workflow_id, "after": after, "last": last},
            workflow_id=workflow_id,
        )


async def stream_send(
    loom: Threadloom,
    conversation_id: str,
    text: str,
    *,
    assistant_id: str,
    thread_id: str | None = None,
    turn_key: str | None = None,
    after: int | None = None,
    **overrides: Any,
) -> AsyncIterator[TurnEvent]:
    """The conversation turn `send` runs, streamed (see `Threadloom.stream_send`).

    The turn is sent as `send` sends it (update-with-start, resent while the conversation
    restarts); its child `TurnWorkflow` is found by the conversation's thread and the turn key.
    """
    from threadloom.starter.conversations import send

    key = turn_key or uuid.uuid4().hex
    sent = asyncio.create_task(
        send(
            loom,
            conversation_id,
            text,
            assistant_id=assistant_id,
            thread_id=thread_id,
            turn_key=key,
            **overrides,
        )
    )
    try:
        thread = await _conversation_thread(loom, conversation_id, sent)
        workflow_id = turn_workflow_id(thread, key)
        await _until_started(loom, workflow_id, sent)
        async for event in stream_events(loom, workflow_id, after=after):
            yield event
        await sent
    finally:
        if not sent.done():
            sent.cancel()


async def _conversation_thread(
    loom: Threadloom, conversation_id: str, sent: asyncio.Task[TurnResult]
) -> str:
    """The thread of the conversation, once its workflow has one (or the send's error)."""
    handle = loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))
    delay, longest = FIND_RUN_SECONDS
    while True:
        if sent.done() and sent.exception() is not None:
            await sent  # raises the send's error
        try:
            status: ConversationStatus = await handle.query(STATUS_QUERY, result_type=ConversationStatus)
            if status.thread_id:
                return status.thread_id
        except (RPCError, WorkflowQueryFailedError):
            pass  # not started yet, or its first task is under way
        await asyncio.wait({sent}, timeout=delay)
        delay = min(delay * 1.5, longest)


async def _until_started(loom: Threadloom, workflow_id: str, sent: asyncio.Task[TurnResult]) -> None:
    """Wait until the turn's workflow exists (it may queue behind earlier turns)."""
    handle = loom.client.get_workflow_handle(workflow_id)
    delay, longest = FIND_RUN_SECONDS
    while True:
        try:
            await handle.describe()
            return
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        if sent.done():
            await sent  # raises the send's error, or the turn ran (its workflow exists)
            await handle.describe()
            return
        await asyncio.wait({sent}, timeout=delay)
        delay = min(delay * 1.5, longest)


async def _numbered(events: AsyncIterator[TurnEvent]) -> AsyncIterator[TurnEvent]:
    offset = 0
    async for event in events:
        if isinstance(event, Resumed):  # a live notice, not part of the turn's reading
            yield with_offset(event, offset - 1)
            continue
        yield with_offset(event, offset)
        offset += 1


async def _turn_events(
    loom: Threadloom,
    workflow_id: str,
    request: TurnRequest | None,
    threads: ThreadsClient | None,
) -> AsyncIterator[TurnEvent]:
    from threadloom.starter.api import TurnHandle

    handle = loom.client.get_workflow_handle(workflow_id, result_type=TurnResult)
    if request is None:
        request = await _request_of(handle)
    request = request.keyed(workflow_id)
    result = asyncio.create_task(_outcome(TurnHandle(handle)))
    notices: asyncio.Queue[Resumed] = asyncio.Queue()
    watch = asyncio.create_task(_watch_workers(handle, result, notices))
    try:
        if threads is not None:
            async for event in _TurnReader(threads, request, result, notices, watch).events():
                yield event
            return
        async with threads_client(loom.settings or Settings()) as own:
            async for event in _TurnReader(own, request, result, notices, watch).events():
                yield event
    finally:
        result.cancel()
        watch.cancel()


async def _watch_workers(
    handle: WorkflowHandle[Any, Any], result: asyncio.Task[Any], notices: asyncio.Queue[Resumed]
) -> None:
    """Put a `Resumed` in `notices` each time a new worker took the turn over from a lost one,
    until the turn ends: a workflow task that timed out (its history), or an activity attempt that
    timed out on its heartbeat or its deadline (the pending activities, live; its history, after).
    """
    seen: set[tuple[str, int]] = set()

    def lost(key: tuple[str, int], what: str, failure: Any) -> None:
        if key in seen or failure.timeout_failure_info.timeout_type not in WORKER_LOST:
            return  # seen, or retried after an API fault: the same worker goes on
        seen.add(key)
        notices.put_nowait(
            Resumed(0, reason=f"the worker running {what} was lost; another carries the turn on")
        )

    async def look(history: bool) -> None:
        try:
            if not history:
                described = await handle.describe()
                for pending in described.raw_description.pending_activities:
                    if pending.attempt > 1 and pending.last_failure.HasField("timeout_failure_info"):
                        what = f"{pending.activity_type.name} (attempt {pending.attempt - 1})"
                        lost((pending.activity_id, pending.attempt), what, pending.last_failure)
            scheduled: dict[int, tuple[str, str]] = {}
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                    attrs = event.workflow_task_timed_out_event_attributes
                    if attrs.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE:
                        failure = Failure(
                            timeout_failure_info=TimeoutFailureInfo(timeout_type=attrs.timeout_type)
                        )
                        lost(("workflow task", event.event_id), "the turn's workflow task", failure)
                elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                    task = event.activity_task_scheduled_event_attributes
                    scheduled[event.event_id] = (task.activity_id, task.activity_type.name)
                elif history and event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    started = event.activity_task_started_event_attributes
                    activity_id, name = scheduled.get(started.scheduled_event_id, ("", "an activity"))
                    if started.attempt > 1 and started.last_failure.HasField("timeout_failure_info"):
                        what = f"{name} (attempt {started.attempt - 1})"
                        lost((activity_id, started.attempt), what, started.last_failure)
        except RPCError:
            pass  # not started yet, or the server is away: the notices are a courtesy

    while not result.done():
        await look(history=False)
        await asyncio.wait({result}, timeout=WATCH_SECONDS)
    await look(history=True)  # attempts that ran too fast to be seen pending


async def _outcome(turn: Any) -> TurnResult | TurnError:
    try:
        reply: TurnResult = await turn.result()
        return reply
    except TurnError as err:
        return err


class _TurnReader:
    """Reads one turn's runs in attempt order and turns their events into `TurnEvent`s."""

    def __init__(
        self,
        threads: ThreadsClient,
        request: TurnRequest,
        result: asyncio.Task[TurnResult | TurnError],
        notices: asyncio.Queue[Resumed],
        watch: asyncio.Task[None],
    ) -> None:
        self._threads = threads
        self._request = request
        self._result = result
        self._notices = notices
        self._watch = watch
        self._text = ""  # streamed since the last restart
        self._message_id = ""
        self._run_id = ""
        self._advertised = True
        self._held = True  # until the server shows it has no held lookup (a 404)

    async def events(self) -> AsyncIterator[TurnEvent]:
        attempt, streamed = 0, True
        while streamed:
            attempt += 1
            try:
                run = await self._find_run(attempt)
            except _Unstreamable as err:
                yield NotStreamed(0, reason=str(err))
                break
            if run is None:
                break
            if attempt > 1 and (self._text or self._run_id):
                yield RunRestarted(0, run_id=run, reason=f"run {self._run_id} was replaced")
                self._text, self._message_id = "", ""
            self._run_id = run
            status = ""
            try:
                async for event in self._run_events(run):
                    if isinstance(event, RunStatus):
                        status = event.status
                    yield event
                    while not self._notices.empty():
                        yield self._notices.get_nowait()
            except _Unstreamable as err:
                streamed = False
                yield NotStreamed(0, reason=str(err))
            if status in ("completed", "incomplete"):
                break
        # The run has ended; its turn ends when a worker reports it. Notices until the watcher ends.
        while not (self._watch.done() and self._notices.empty()):
            notice = asyncio.ensure_future(self._notices.get())
            await asyncio.wait({notice, self._watch}, return_when=asyncio.FIRST_COMPLETED)
            if notice.done():
                yield notice.result()
            else:
                notice.cancel()
        outcome = await self._result
        if isinstance(outcome, TurnError):
            raise outcome
        if self._text != outcome.reply:
            if self._text:
                reason = "the streamed text was not the whole reply: here it is again"
                yield RunRestarted(0, run_id=outcome.run_id, reason=reason)
            if outcome.reply:
                ids = outcome.reply_message_ids
                yield TextDelta(0, message_id=ids[0] if ids else "", text=outcome.reply)
        yield TurnFinished(0, result=outcome)

    async def _find_run(self, attempt: int) -> str | None:
        """The id of the turn's run number `attempt`, once created; None if the turn ended first.

        Threadloom's server holds the lookup until the run is created. Any other Threads API has
        no such lookup, and streams a run only to the call that creates it (the worker's): there
        the turn is not streamed, and its reply follows when it ends.
        """
        while True:
            ended = self._result.done()
            if ended:
                found = await self._held_lookup(attempt, 0)  # one last look, not held
            else:
                lookup = asyncio.ensure_future(self._held_lookup(attempt, HOLD_MS))
                await asyncio.wait({lookup, self._result}, return_when=asyncio.FIRST_COMPLETED)
                if not lookup.done():
                    lookup.cancel()  # the turn ended meanwhile
                    continue
                found = lookup.result()
            if not self._held:
                raise _Unstreamable(
                    f"the Threads API at {self._threads.base_url} has no lookup of a turn's run "
                    "(not threadloom's server): the reply follows when the turn ends"
                )
            if not self._advertised:
                raise _Unstreamable(
                    f"the Threads API at {self._threads.base_url} does not stream a run once it "
                    f"is created (no {ADVERTISE_HEADER} header): the reply follows when the turn ends"
                )
            if found is not None or ended:
                return found

    async def _held_lookup(self, attempt: int, wait_ms: int) -> str | None:
        """Threadloom's lookup of a run by its tags, held until it exists (`wait_ms`)."""
        params = {
            "threadloom_turn": self._request.key,
            "threadloom_attempt": attempt,
            "wait_ms": wait_ms,
        }
        try:
            answer = await self._threads.request(
                "GET",
                f"threads/{self._request.thread_id}/threadloom/run",
                params=params,
                timeout=self._threads.timeout + wait_ms / 1000,
            )
            self._advertised = ADVERTISE_HEADER in answer.headers
            run = answer.json().get("run")
        except NotFoundError:
            self._held = False  # not threadloom's server (or the thread is gone)
            return None
        except (ThreadsError, ValueError, AttributeError):
            return None  # unreachable for now: the result will tell
        return None if not run else str(run["id"])

    async def _run_events(self, run_id: str) -> AsyncIterator[TurnEvent]:
        """The run's events as `TurnEvent`s, from its start to its end, reconnecting as needed."""
        after, drops = 0, 0
        calls: dict[str, tuple[str, str]] = {}
        path = f"threads/{self._request.thread_id}/runs/{run_id}/events"
        while True:
            try:
                async with self._threads.stream("GET", f"{path}?after={after}") as chunks:
                    decoder = SSEDecoder()
                    async for chunk in chunks:
                        for sse in decoder.feed(chunk):
                            if sse.event == "done":
                                return
                            if sse.id:
                                after, drops = int(sse.id), 0
                            if sse.event == "error":
                                restarted = self._error(sse.data, run_id)
                                if restarted is not None:
                                    yield restarted
                                continue
                            for event in self._translate(sse.event, json.loads(sse.data), calls):
                                yield event
            except APIStatusError as err:
                if after == 0:
                    raise _Unstreamable(
                        f"the Threads API gives no event stream of run {run_id} "
                        f"({err.status_code}): the reply follows when the turn ends"
                    ) from err
                raise _Unstreamable(f"the event stream of run {run_id} ended: {err}") from err
            except APIConnectionError as err:
                drops += 1
                if drops > RECONNECTS:
                    raise _Unstreamable(f"the event stream of run {run_id} kept dropping") from err
            await asyncio.sleep(0.05 * drops)

    def _error(self, data: str, run_id: str) -> TurnEvent | None:
        """An `error` event ends the connection: a reader too slow reconnects; a run taken over by
        another server replica has its reply replaced."""
        try:
            error = json.loads(data).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        if error.get("code") == "stream_reader_too_slow":
            return None
        self._text, self._message_id = "", ""
        return RunRestarted(0, run_id=run_id, reason=str(error.get("message") or "stream error"))

    def _translate(self, name: str, data: Any, calls: dict[str, tuple[str, str]]) -> list[TurnEvent]:
        if name == "thread.message.delta":
            parts = (data.get("delta") or {}).get("content") or []
            text = "".join(
                (part.get("text") or {}).get("value") or ""
                for part in parts
                if part.get("type") == "text"
            )
            message_id = str(data.get("id", ""))
            if self._message_id and message_id != self._message_id and self._text:
                text = REPLY_SEPARATOR + text
            self._message_id = message_id
            if not text:
                return []
            self._text += text
            return [TextDelta(0, message_id=message_id, text=text)]
        if name == "thread.run.step.delta":
            details = (data.get("delta") or {}).get("step_details") or {}
            started: list[TurnEvent] = []
            for call in details.get("tool_calls") or []:
                function = call.get("function") or {}
                if call.get("type") == "function" and call.get("id"):
                    calls[call["id"]] = (function.get("name", ""), function.get("arguments", ""))
                    started.append(
                        ToolCallStarted(
                            0,
                            call_id=call["id"],
                            name=function.get("name", ""),
                            arguments=function.get("arguments") or "",
                        )
                    )
            return started
        if name == "thread.run.step.completed":
            details = data.get("step_details") or {}
            finished: list[TurnEvent] = []
            for call in details.get("tool_calls") or []:
                function = call.get("function") or {}
                if call.get("type") == "function" and function.get("output") is not None:
                    finished.append(
                        ToolCallFinished(
                            0,
                            call_id=call.get("id", ""),
                            name=function.get("name", ""),
                            output=str(function.get("output")),
                        )
                    )
            return finished
        if name.startswith("thread.run.") and not name.startswith("thread.run.step"):
            return [RunStatus(0, run_id=str(data.get("id", "")), status=str(data.get("status")))]
        return []


async def _request_of(handle: WorkflowHandle[Any, Any]) -> TurnRequest:
    """The input of turn workflow `handle` (its first history event), or `StreamError`."""
    try:
        async for event in handle.fetch_history_events():
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                break
            started = event.workflow_execution_started_event_attributes
            if started.workflow_type.name != TURN_WORKFLOW:
                break
            decoded = await handle._client.data_converter.decode(started.input.payloads, [TurnRequest])
            request: TurnRequest = decoded[0]
            return request
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    raise StreamError(f"no turn {handle.id}", details={"workflow_id": handle.id}, workflow_id=handle.id)
