"""Server-sent events: `event: <name>\\ndata: <one-line JSON>\\n\\n`, ending `event: done`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from threads_server.events import Event, Subscription
from threads_server.wire_json import encode

DONE = b"event: done\ndata: [DONE]\n\n"


def sse(event: str, data: Any) -> bytes:
    """One framed event."""
    return b"event: %s\ndata: %s\n\n" % (event.encode(), encode(data))


async def _frames(subscription: Subscription, prefix: list[Event]) -> AsyncIterator[bytes]:
    try:
        for event in prefix:
            yield sse(event.event, event.data)
        while True:
            event = await subscription.queue.get()
            yield sse(event.event, event.data)
            if event.ends_stream:
                break
        yield DONE
    finally:
        subscription.close()


def sse_response(subscription: Subscription, prefix: list[Event] | None = None) -> StreamingResponse:
    """Stream a run's events until it ends or requires action (the subscription is closed after)."""
    return StreamingResponse(
        _frames(subscription, prefix or []),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
