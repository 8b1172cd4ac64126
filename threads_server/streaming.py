"""Server-sent events: `event: <name>\\ndata: <one-line JSON>\\n\\n`, ending `event: done`.

A stream ends after a terminal run event, `requires_action` or an `error` event (reader too slow,
server shutting down). When the client goes away, Starlette cancels the generator and the `finally`
unsubscribes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from threadloom.threads_server.events import Event, Subscription

DONE = b"event: done\ndata: [DONE]\n\n"


def sse(event: Event) -> bytes:
    """One framed event (its data as encoded when it was published)."""
    return f"event: {event.event}\ndata: {event.payload}\n\n".encode()


async def _frames(subscription: Subscription, prefix: list[Event]) -> AsyncIterator[bytes]:
    try:
        for event in prefix:
            yield sse(event)
        while True:
            event = await subscription.get()
            yield sse(event)
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
