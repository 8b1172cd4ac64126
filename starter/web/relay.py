"""The SSE relay: a streamed turn's events, from the starter API to the browser.

The relay is the worked example of a backend streaming a turn: `loom.stream_send(...)` for a new turn
of a conversation, `loom.stream_events(workflow_id, after=offset)` to resume one. Each event goes out
as one SSE message, `id: <offset>` and `data: <event_to_json(event)>`, so the browser's next request
after a lost connection carries `Last-Event-ID` and gets every later event once. Before the turn's own
events, a new turn's stream says which turn it is (`{"type": "turn", "workflow_id": …}`), so the page
can link it to the Temporal UI and resume it.

Bad input is answered before the stream starts, with the JSON envelope of `app.py` and a 4xx; a
failure after the first event is the stream's last event, `{"type": "error", …}`. A resume with
nothing left to send is a 204, which also tells an `EventSource` to stop reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from threadloom.starter.errors import TurnError
from threadloom.starter.web.app import (
    WebContext,
    WebError,
    context_of,
    conversation_of,
    json_object,
    optional_text,
    text_field,
)
from threadloom.workflows.contracts import turn_workflow_id

KEEPALIVE_SECONDS = 15.0
"""A comment line this often while no event comes, so proxies and browsers keep the stream open."""
RECONNECT_MS = 1000
"""The `retry:` an `EventSource` waits before it reconnects."""
ERROR_STATUS = {
    "InvalidRequest": 400,
    "AssistantNotFound": 404,
    "ThreadNotFound": 404,
    "ConversationNotFound": 404,
    "ThreadBusy": 409,
    "TemporalUnavailable": 503,
    "ThreadsUnavailable": 503,
}
"""The status of a failure that arrives before the first event (others: 502)."""


def sse(data: dict[str, Any], *, event_id: int | None = None) -> bytes:
    """One SSE message (`id:` line when given; the JSON holds no newline)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def failure(error: Exception) -> WebError:
    """A `TurnError` or `StreamError` as the envelope's type, message and status."""
    kind = str(getattr(error, "type", None) or type(error).__name__)
    message = str(getattr(error, "message", None) or error)
    status = ERROR_STATUS.get(kind) or _stream_error_status(error)
    return WebError(status, kind, message)


def _stream_error_status(error: Exception) -> int:
    from threadloom.starter.stream_events import StreamError

    if isinstance(error, StreamError):  # an offset the turn never reached, or no such turn
        return 400 if error.details.get("after") is not None else 404
    return 502


def _relayed_errors() -> tuple[type[Exception], ...]:
    from threadloom.starter.stream_events import StreamError

    return (TurnError, StreamError)


async def _first(events: AsyncIterator[Any]) -> Any | None:
    """The first event (None if the stream is empty); a relayed error becomes a `WebError`."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None
    except _relayed_errors() as error:
        raise failure(error) from error


async def paced(
    events: AsyncIterator[Any], *, keepalive: float = KEEPALIVE_SECONDS
) -> AsyncIterator[Any | None]:
    """The events, with None whenever `keepalive` seconds pass without one (the next one is still
    awaited by the same task: a keepalive never cancels a read)."""
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            pending = pending or asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=keepalive)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                yield task.result()
            except StopAsyncIteration:
                return
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


async def _stream(
    head: dict[str, Any] | None, first: Any, events: AsyncIterator[Any]
) -> AsyncIterator[bytes]:
    from threadloom.starter.stream_events import event_to_json

    yield f"retry: {RECONNECT_MS}\n\n".encode()
    if head is not None:
        yield sse(head)
    try:
        yield sse(event_to_json(first), event_id=first.offset)
        # To the stream's own end (just after `TurnFinished`): leaving it earlier would cancel
        # what it still awaits (a conversation turn's update).
        async for event in paced(events):
            if event is None:
                yield b": keepalive\n\n"
                continue
            yield sse(event_to_json(event), event_id=event.offset)
    except _relayed_errors() as error:
        problem = failure(error)
        yield sse({"type": "error", "error": problem.type, "message": problem.message})
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]


def _sse_response(head: dict[str, Any] | None, first: Any, events: AsyncIterator[Any]) -> Response:
    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(
        _stream(head, first, events), media_type="text/event-stream", headers=headers
    )


async def send_turn(request: Request) -> Response:
    """`POST /api/conversations/{id}/turns`: start a streamed turn and relay its events.

    Body: `text` and `assistant_id`; optional `thread_id` (a new conversation's thread), `turn_key`
    (the same key never runs a second turn) and `tools` (tools registered in the worker).
    """
    context = context_of(request)
    conversation_id = request.path_params["conversation_id"]
    try:
        body = await json_object(request)
        text = text_field(body, "text")
        assistant_id = text_field(body, "assistant_id")
        thread_id = optional_text(body, "thread_id")
        turn_key = optional_text(body, "turn_key") or uuid.uuid4().hex
        tools = body.get("tools") or []
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise WebError(400, "InvalidRequest", "'tools' must be a list of tool names")
        events = context.loom.stream_send(
            conversation_id,
            text,
            assistant_id=assistant_id,
            thread_id=thread_id,
            turn_key=turn_key,
            tools=tools,
        )
        first = await _first(events)
        if first is None:
            raise WebError(502, "StreamEnded", "the turn's stream ended before its first event")
        head = await _turn_head(context, conversation_id, turn_key)
    except WebError as error:
        return error.response()
    return _sse_response(head, first, events)


async def _turn_head(context: WebContext, conversation_id: str, turn_key: str) -> dict[str, Any]:
    """Which turn this is: its workflow id once the conversation's thread is known."""
    found = await conversation_of(context, conversation_id)
    thread_id = found["thread_id"] if found else None
    workflow_id = turn_workflow_id(thread_id, turn_key) if thread_id else None
    return {
        "type": "turn",
        "conversation_id": conversation_id,
        "conversation_ui_url": found["ui_url"] if found else None,
        "thread_id": thread_id,
        "turn_key": turn_key,
        "workflow_id": workflow_id,
        "ui_url": context.workflow_url(workflow_id),
    }


def offset_of(request: Request) -> int | None:
    """The offset to resume after: `Last-Event-ID`, else `?after=`; None for the start."""
    raw = request.headers.get("last-event-id") or request.query_params.get("after")
    if raw is None or not raw.strip():
        return None
    try:
        offset = int(raw.strip())
    except ValueError:
        offset = -1
    if offset < 0:
        raise WebError(400, "InvalidOffset", f"the offset {raw!r} is not a whole number ≥ 0")
    return offset


async def turn_events(request: Request) -> Response:
    """`GET /api/turns/{workflow_id}/events`: the turn's events after the offset, then the end."""
    context = context_of(request)
    workflow_id = request.path_params["workflow_id"]
    try:
        after = offset_of(request)
        events = context.loom.stream_events(workflow_id, after=after)
        first = await _first(events)
    except WebError as error:
        return error.response()
    if first is None:
        return Response(status_code=204)
    return _sse_response(None, first, events)


def relay_routes() -> list[Route]:
    """The relay's routes, for `app.create_web_app`."""
    return [
        Route("/api/conversations/{conversation_id}/turns", send_turn, methods=["POST"]),
        Route("/api/turns/{workflow_id}/events", turn_events, methods=["GET"]),
    ]
