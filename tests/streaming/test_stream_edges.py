"""Streamed turns when things go wrong: a stalled run replaced, tool rounds, a killed worker, a
reader that stops reading, a Threads API without the stream, and bad input."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.engine.plain_server import PlainServer
from tests.engine.test_turns import FAST_POLICY
from tests.engine.test_worker_crash import worker_process
from tests.streaming.test_stream_turns import check_invariant, request, words
from tests.tools.toolbox import registry
from threadloom.starter.api import Threadloom
from threadloom.starter.errors import RunTimedOut
from threadloom.starter.stream_events import (
    NotStreamed,
    Resumed,
    RunRestarted,
    StreamError,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnEvent,
)
from threadloom.starter.streaming import stream_events
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import TurnPolicy


@pytest.fixture
async def tool_worker(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, task_queue: str
) -> AsyncIterator[None]:
    async with build_worker(temporal_env.client, threads, task_queue=task_queue, tools=registry):
        yield


async def test_a_stalled_run_is_replaced_and_the_stream_says_so(
    streaming_loom: Threadloom,
    engine_worker: None,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
) -> None:
    turn = request(
        thread_id, assistant_id, "stalls once", policy=FAST_POLICY, fault="stall", fault_times="1"
    )
    events = [event async for event in streaming_loom.stream_turn(turn)]

    assert check_invariant(events) == "Echo: stalls once"
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["cancelled", "completed"]
    restarts = [event for event in events if isinstance(event, RunRestarted)]
    assert [r.run_id for r in restarts] == [state.runs[-1].id]


async def test_a_run_that_always_stalls_ends_the_stream_with_the_turns_error(
    streaming_loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    turn = request(thread_id, assistant_id, "stalls", policy=FAST_POLICY, fault="stall")
    seen: list[TurnEvent] = []
    with pytest.raises(RunTimedOut):
        async for event in streaming_loom.stream_turn(turn):
            seen.append(event)
    assert sum(isinstance(event, RunRestarted) for event in seen) == 1  # its second run


async def test_a_tool_round_streams_its_calls_and_the_reply(
    streaming_loom: Threadloom, tool_worker: None, thread_id: str, assistant_id: str
) -> None:
    text = 'Weather?\n/tool get_weather {"city": "Lisbon"}'
    turn = request(thread_id, assistant_id, text, echo_chunk_delay_ms="2")
    turn = turn.model_copy(update={"tools": ["get_weather"]})
    events = [event async for event in streaming_loom.stream_turn(turn)]

    reply = check_invariant(events)
    started = [event for event in events if isinstance(event, ToolCallStarted)]
    finished = [event for event in events if isinstance(event, ToolCallFinished)]
    assert [(e.name, e.arguments) for e in started] == [("get_weather", '{"city": "Lisbon"}')]
    assert [(e.call_id, e.name) for e in finished] == [(started[0].call_id, "get_weather")]
    assert f"[get_weather] {finished[0].output}" in reply
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert events.index(finished[0]) < first_text  # the reply streams after the round


async def test_a_worker_killed_mid_stream_loses_and_repeats_nothing(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    threads: ThreadsClient,
    streaming_loom: Threadloom,
    task_queue: str,
    thread_id: str,
    assistant_id: str,
) -> None:
    start = worker_process(temporal_env, threads_server, task_queue)
    text = words(120)
    turn = request(
        thread_id,
        assistant_id,
        text,
        echo_chunk_delay_ms="25",
        policy=TurnPolicy(heartbeat_timeout_seconds=2),
    )
    events: list[TurnEvent] = []
    stream = streaming_loom.stream_turn(turn)
    async with start() as first:
        async for event in stream:
            events.append(event)
            if isinstance(event, TextDelta):
                break  # the reply is streaming: kill the worker that waits on its run
        first.kill()
        assert await first.wait() == -signal.SIGKILL
    async with start():
        events += [event async for event in stream]

    assert check_invariant(events) == f"Echo: {text}"
    resumed = [event for event in events if isinstance(event, Resumed)]
    assert len(resumed) == 1, events  # the new worker took the turn over, once
    assert "was lost" in resumed[0].reason
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["completed"]
    assert [m.role for m in state.messages] == ["user", "assistant"]


async def test_a_reader_that_stops_reading_holds_up_nothing(
    streaming_loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    turn = request(thread_id, assistant_id, words(3000))  # ~750 deltas at once
    stream = streaming_loom.stream_turn(turn)
    events = [await anext(stream)]
    # The reader stops; the turn ends all the same (it waits on nobody).
    handle = streaming_loom.get_handle(turn.workflow_id)
    result = await asyncio.wait_for(handle.result(), 30)
    events += [event async for event in stream]
    assert check_invariant(events) == result.reply


async def test_a_threads_api_without_the_stream_falls_back_to_the_whole_reply(
    streaming_loom: Threadloom,
    engine_worker: None,
    threads_server: Any,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
) -> None:
    class Plainer(PlainServer):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await super().handle_async_request(request)
            response.headers.pop("threadloom-run-events", None)
            return response

    turn = request(thread_id, assistant_id, "plain", echo_chunk_delay_ms="2")
    handle = await streaming_loom.start_turn(turn)
    plain = ThreadsClient(threads_server.base_url, max_retries=0, transport=Plainer())
    async with plain:
        events = [e async for e in stream_events(streaming_loom, handle.workflow_id, threads=plain)]

    assert check_invariant(events) == "Echo: plain"
    assert [type(e).__name__ for e in events] == ["NotStreamed", "TextDelta", "TurnFinished"]
    assert isinstance(events[0], NotStreamed)
    assert (await thread_state(threads, thread_id)).statuses == ["completed"]  # one run


async def test_a_threads_api_without_the_run_lookup_falls_back_to_the_whole_reply(
    streaming_loom: Threadloom,
    engine_worker: None,
    threads_server: Any,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
) -> None:
    """Any other Assistants-v2 server answers threadloom's own paths with a 404."""

    class Foreign(PlainServer):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if "/threadloom/" in request.url.path:
                body = b'{"error": {"message": "Not found", "type": "invalid_request_error"}}'
                return httpx.Response(404, content=body, headers={"content-type": "application/json"})
            return await super().handle_async_request(request)

    turn = request(thread_id, assistant_id, "foreign", echo_chunk_delay_ms="2")
    handle = await streaming_loom.start_turn(turn)
    foreign = ThreadsClient(threads_server.base_url, max_retries=0, transport=Foreign())
    async with foreign:
        events = [e async for e in stream_events(streaming_loom, handle.workflow_id, threads=foreign)]

    assert check_invariant(events) == "Echo: foreign"
    assert [type(e).__name__ for e in events] == ["NotStreamed", "TextDelta", "TurnFinished"]
    assert "no lookup of a turn's run" in events[0].reason
    assert (await thread_state(threads, thread_id)).statuses == ["completed"]  # one run


async def test_bad_input_is_a_typed_error_or_a_clean_end(
    streaming_loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    with pytest.raises(StreamError):
        [e async for e in streaming_loom.stream_events(f"turn-{thread_id}-{uuid.uuid4().hex}")]
    with pytest.raises(StreamError):
        [e async for e in streaming_loom.stream_events("conversation-not-a-turn")]

    turn = request(thread_id, assistant_id, "done already")
    finished = [event async for event in streaming_loom.stream_turn(turn)]
    last = finished[-1].offset
    # A finished turn: from its last offset, a clean end; past it, an error.
    assert [e async for e in streaming_loom.stream_events(turn.workflow_id, after=last)] == []
    with pytest.raises(StreamError) as caught:
        [e async for e in streaming_loom.stream_events(turn.workflow_id, after=last + 5)]
    assert caught.value.details["last"] == last
