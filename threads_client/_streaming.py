"""Server-sent events: a small incremental parser and the typed stream events built from it.

Choices:
- A stream ends after the ``done`` event (which is yielded, data ``"[DONE]"``; a bare
  ``data: [DONE]`` counts too) or when the server closes the connection, whichever comes first.
- An ``error`` event is yielded as ``StreamEvent("error", ErrorObject)``; iteration does not raise
  on it, so the caller sees every event the server sent and decides. Both ``{"error": {...}}`` and a
  bare error object are accepted.
- Unknown events, and known events whose data does not validate, are yielded with the decoded JSON
  (``dict``) or the raw text (``str``) as data: clients must ignore what they do not understand.
- A last event not followed by a blank line before the connection closes is still delivered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from threadloom.threads_client._models import ErrorObject, Thread
from threadloom.threads_client._models_message import Message, MessageDelta
from threadloom.threads_client._models_run import Run
from threadloom.threads_client._models_step import RunStep, RunStepDelta

__all__ = ["SSEDecoder", "ServerSentEvent", "StreamEvent", "StreamEventData", "iter_stream_events"]

StreamEventData = (
    Run
    | RunStep
    | RunStepDelta
    | Message
    | MessageDelta
    | Thread
    | ErrorObject
    | dict[str, Any]
    | list[Any]
    | str
)
"""The data of a stream event: a typed object for known events, else JSON or text."""


class StreamEvent(BaseModel):
    """One event of a run stream.

    Attributes:
        event: The event name, e.g. ``"thread.message.delta"``.
        data: ``Run`` for ``thread.run.*``, ``RunStep`` for ``thread.run.step.*``,
            ``RunStepDelta`` for ``thread.run.step.delta``, ``Message`` for
            ``thread.message.created|in_progress|completed|incomplete``, ``MessageDelta`` for
            ``thread.message.delta``, ``Thread`` for ``thread.created``, ``ErrorObject`` for
            ``error``, ``"[DONE]"`` for ``done``; anything else keeps its decoded JSON or text.
    """

    model_config = ConfigDict(frozen=True)

    event: str
    data: StreamEventData


@dataclass(frozen=True)
class ServerSentEvent:
    """A raw server-sent event: name (``"message"`` by default), data lines joined, id, retry."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental ``text/event-stream`` parser: feed text chunks, get complete events.

    Chunks may split lines (and ``\\r\\n`` pairs) anywhere; lines may end in ``\\n``, ``\\r\\n``
    or ``\\r``.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: str) -> Iterator[ServerSentEvent]:
        """Add a chunk of text and yield the events it completes."""
        self._buffer += chunk
        while True:
            line, found = self._take_line()
            if not found:
                return
            event = self._process_line(line)
            if event is not None:
                yield event

    def flush(self) -> Iterator[ServerSentEvent]:
        """Yield the pending event at the end of the stream, if any."""
        if self._buffer:
            line, self._buffer = self._buffer.rstrip("\r"), ""
            event = self._process_line(line)
            if event is not None:
                yield event
        event = self._dispatch()
        if event is not None:
            yield event

    def _take_line(self) -> tuple[str, bool]:
        buffer = self._buffer
        cr, lf = buffer.find("\r"), buffer.find("\n")
        if cr == -1 and lf == -1:
            return "", False
        if cr == -1 or (lf != -1 and lf < cr):
            end, skip = lf, 1
        elif cr + 1 == len(buffer):
            # A trailing "\r" may be the first half of "\r\n": wait for the next chunk.
            return "", False
        else:
            end, skip = cr, 2 if buffer[cr + 1] == "\n" else 1
        self._buffer = buffer[end + skip :]
        return buffer[:end], True

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            # As the SSE standard says: an event without data lines is dropped.
            self._event = ""
            return None
        event = ServerSentEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._id,
            retry=self._retry,
        )
        self._event = ""
        self._data = []
        return event


_MODEL_BY_EVENT: dict[str, type[BaseModel]] = {
    "thread.created": Thread,
    "thread.message.created": Message,
    "thread.message.in_progress": Message,
    "thread.message.completed": Message,
    "thread.message.incomplete": Message,
    "thread.message.delta": MessageDelta,
    "thread.run.step.delta": RunStepDelta,
    "error": ErrorObject,
}


def _model_for(event: str) -> type[BaseModel] | None:
    model = _MODEL_BY_EVENT.get(event)
    if model is not None:
        return model
    if event.startswith("thread.run.step."):
        return RunStep
    if event.startswith("thread.run."):
        return Run
    return None


def to_stream_event(sse: ServerSentEvent) -> StreamEvent:
    """Turn a raw server-sent event into a typed :class:`StreamEvent`."""
    # model_construct: the data is already parsed; re-validating the union could coerce a
    # pass-through dict into a model.
    if sse.event == "done" or (sse.event == "message" and sse.data == "[DONE]"):
        return StreamEvent.model_construct(event="done", data=sse.data)
    try:
        payload: Any = json.loads(sse.data)
    except ValueError:
        return StreamEvent.model_construct(event=sse.event, data=sse.data)
    model = _model_for(sse.event)
    if model is ErrorObject and isinstance(payload, dict):
        # Both {"error": {...}} and a bare error object are seen in the wild.
        inner = payload.get("error")
        payload = inner if isinstance(inner, dict) else payload
    if model is not None and isinstance(payload, dict):
        try:
            data = cast(StreamEventData, model.model_validate(payload))
        except ValidationError:
            data = payload
        return StreamEvent.model_construct(event=sse.event, data=data)
    if not isinstance(payload, dict | list | str):
        payload = sse.data
    return StreamEvent.model_construct(event=sse.event, data=payload)


async def iter_stream_events(chunks: AsyncIterable[str]) -> AsyncIterator[StreamEvent]:
    """Parse decoded text chunks of an event stream into typed events, up to ``done``."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for sse in decoder.feed(chunk):
            event = to_stream_event(sse)
            yield event
            if event.event == "done":
                return
    for sse in decoder.flush():
        event = to_stream_event(sse)
        yield event
        if event.event == "done":
            return
