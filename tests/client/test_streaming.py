"""SSE parsing and typed stream events, directly and through the streaming calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import pytest

from threadloom.threads_client import (
    APIConnectionError,
    BadRequestError,
    ErrorObject,
    Message,
    MessageDelta,
    Run,
    RunStep,
    RunStepDelta,
    StreamEvent,
    Thread,
    ThreadsClient,
)
from threadloom.threads_client._streaming import SSEDecoder

from .fake_api import error_response, message_object, run_object

STEP = {
    "id": "step_1",
    "object": "thread.run.step",
    "created_at": 1,
    "assistant_id": "asst_1",
    "thread_id": "thread_1",
    "run_id": "run_1",
    "type": "message_creation",
    "status": "in_progress",
    "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
    "last_error": None,
    "expired_at": None,
    "cancelled_at": None,
    "failed_at": None,
    "completed_at": None,
    "metadata": None,
    "usage": None,
}


def delta(index: int, text: str) -> dict[str, Any]:
    part = {"index": index, "type": "text", "text": {"value": text, "annotations": []}}
    return {"id": "msg_1", "object": "thread.message.delta", "delta": {"content": [part]}}


def frame(event: str, data: object) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {payload}\n\n"


RUN_STREAM = "".join(
    [
        frame("thread.run.created", run_object("run_1", "thread_1", "queued")),
        frame("thread.run.in_progress", run_object("run_1", "thread_1", "in_progress")),
        frame("thread.run.step.created", STEP),
        frame("thread.message.created", message_object("msg_1", "thread_1", "", role="assistant")),
        frame("thread.message.delta", delta(0, "Echo: héllo ")),
        frame("thread.message.delta", delta(0, "wörld")),
        ": a comment line, ignored\n\n",
        frame("thread.vendor.custom", {"anything": [1, 2]}),
        frame("thread.message.completed", message_object("msg_1", "thread_1", "Echo: héllo wörld")),
        frame("thread.run.completed", run_object("run_1", "thread_1", "completed")),
        frame("done", "[DONE]"),
        frame("thread.run.created", run_object("run_2", "thread_1", "queued")),
    ]
)


def parse(chunks: Iterable[str]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events = [(sse.event, sse.data) for chunk in chunks for sse in decoder.feed(chunk)]
    return events + [(sse.event, sse.data) for sse in decoder.flush()]


def test_decoder_is_independent_of_chunk_boundaries() -> None:
    text = "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: x\rdata: y\r\r:c\n\nevent: c\ndata:3\n\n"
    expected = [("a", "1"), ("b", "x\ny"), ("c", "3")]
    assert parse([text]) == expected
    assert parse(list(text)) == expected
    for cut in range(len(text)):
        assert parse([text[:cut], text[cut:]]) == expected


def test_decoder_defaults_and_edge_cases() -> None:
    text = "data: plain\n\nevent: no-data\n\nid: 7\nretry: 100\ndata\n\nevent: tail\ndata: last"
    decoder = SSEDecoder()
    events = list(decoder.feed(text)) + list(decoder.flush())
    assert [(e.event, e.data) for e in events] == [
        ("message", "plain"),
        ("message", ""),
        ("tail", "last"),
    ]
    assert (events[1].id, events[1].retry) == ("7", 100)


def streaming_handler(
    chunks: list[bytes], seen: list[httpx.Request], fail_after: bool = False
) -> Callable[[httpx.Request], httpx.Response]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
        if fail_after:
            raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    return handler


def split_bytes(text: str, size: int) -> list[bytes]:
    data = text.encode()
    # Odd sizes cut through the multi-byte characters too.
    return [data[index : index + size] for index in range(0, len(data), size)]


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in events]


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
async def test_run_stream_yields_typed_events_until_done(size: int) -> None:
    seen: list[httpx.Request] = []
    handler = streaming_handler(split_bytes(RUN_STREAM, size), seen)
    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        events = await collect(
            client.threads.runs.create_stream("thread_1", assistant_id="asst_1", metadata={"a": "b"})
        )

    assert [event.event for event in events] == [
        "thread.run.created",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.message.created",
        "thread.message.delta",
        "thread.message.delta",
        "thread.vendor.custom",
        "thread.message.completed",
        "thread.run.completed",
        "done",
    ]
    kinds = [type(event.data) for event in events]
    assert kinds == [Run, Run, RunStep, Message, MessageDelta, MessageDelta, dict, Message, Run, str]
    assert events[6].data == {"anything": [1, 2]}
    assert "".join(e.data.text for e in events if isinstance(e.data, MessageDelta)) == (
        "Echo: héllo wörld"
    )
    completed = events[7].data
    assert isinstance(completed, Message) and completed.text == "Echo: héllo wörld"
    assert events[-1].data == "[DONE]"
    request = seen[0]
    assert request.url.path == "/v1/threads/thread_1/runs"
    assert json.loads(request.content) == {
        "assistant_id": "asst_1",
        "metadata": {"a": "b"},
        "stream": True,
    }
    assert request.headers["accept"] == "text/event-stream"


async def test_error_events_are_yielded_not_raised() -> None:
    error = {"message": "Rate limit.", "type": "rate_limit", "param": None, "code": "rate_limit"}
    text = (
        frame("error", {"error": error})
        + frame("error", error)
        + frame("error", "not json")
        + frame("done", "[DONE]")
    )
    async with ThreadsClient(
        transport=httpx.MockTransport(streaming_handler([text.encode()], []))
    ) as client:
        events = await collect(
            client.threads.runs.submit_tool_outputs_stream(
                "thread_1", "run_1", tool_outputs=[{"tool_call_id": "c", "output": "1"}]
            )
        )

    assert [type(event.data) for event in events] == [ErrorObject, ErrorObject, str, str]
    first = events[0].data
    assert isinstance(first, ErrorObject) and first.code == "rate_limit"
    assert first.message == "Rate limit."


async def test_thread_and_run_stream_starts_with_the_thread() -> None:
    thread = {
        "id": "thread_9",
        "object": "thread",
        "created_at": 1,
        "tool_resources": None,
        "metadata": {},
    }
    step_delta = {
        "id": "step_1",
        "object": "thread.run.step.delta",
        "delta": {
            "step_details": {
                "type": "tool_calls",
                "tool_calls": [{"index": 0, "type": "function", "function": {"arguments": "{"}}],
            }
        },
    }
    text = frame("thread.created", thread) + frame("thread.run.step.delta", step_delta)
    seen: list[httpx.Request] = []
    async with ThreadsClient(
        transport=httpx.MockTransport(streaming_handler([text.encode()], seen))
    ) as client:
        events = await collect(
            client.threads.create_and_run_stream(
                assistant_id="asst_1", thread={"messages": [{"role": "user", "content": "hi"}]}
            )
        )

    # The connection closed without `done`: the stream simply ends.
    assert [type(event.data) for event in events] == [Thread, RunStepDelta]
    assert seen[0].url.path == "/v1/threads/runs"
    assert json.loads(seen[0].content)["stream"] is True


async def test_error_status_before_the_stream_raises_the_typed_error() -> None:
    message = "Thread thread_1 already has an active run run_0."

    def handler(request: httpx.Request) -> httpx.Response:
        return error_response(400, message)

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(BadRequestError) as caught:
            await collect(client.threads.runs.create_stream("thread_1", assistant_id="asst_1"))

    assert caught.value.message == message


async def test_connection_lost_mid_stream_raises_after_the_events_received() -> None:
    text = frame("thread.run.created", run_object("run_1", "thread_1", "queued"))
    handler = streaming_handler([text.encode()], [], fail_after=True)
    received: list[StreamEvent] = []
    async with ThreadsClient(transport=httpx.MockTransport(handler), max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            async for event in client.threads.runs.create_stream("thread_1", assistant_id="a"):
                received.append(event)

    assert [event.event for event in received] == ["thread.run.created"]
