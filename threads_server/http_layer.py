"""The HTTP layer around the API: request ids and the last-resort 500, the request counter, body limit.

`GET /_threadloom/stats` reports how many requests the server saw, per route template
(`GET /v1/threads/{thread_id}/runs/{run_id}`); the benchmark uses it to count requests per turn.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadloom.threads_server.errors import APIError, envelope
from threadloom.threads_server.wire_json import encode

log = logging.getLogger("threads_server")
REQUEST_ID_KEY = "threadloom.request_id"

_ID_NAMES = {
    "thread": "thread_id",
    "msg": "message_id",
    "run": "run_id",
    "step": "step_id",
    "asst": "assistant_id",
    "vs": "vector_store_id",
    "vsfb": "batch_id",
    "file": "file_id",
}
_ID = re.compile(r"^(thread|msg|run|step|asst|vs|vsfb)_[A-Za-z0-9]+$|^(file)-[A-Za-z0-9]+$")


def route_key(method: str, path: str) -> str:
    """`METHOD /path` with object ids replaced by `{name}` placeholders."""
    segments = []
    for segment in path.split("/"):
        match = _ID.match(segment)
        segments.append("{" + _ID_NAMES[match.group(1) or match.group(2)] + "}" if match else segment)
    return f"{method} {'/'.join(segments)}"


class RequestStats:
    """Counts requests: total and per route template."""

    def __init__(self) -> None:
        self.by_route: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        """`{"requests": {"total": n, "by_route": {...}}}`."""
        return {"requests": {"total": sum(self.by_route.values()), "by_route": dict(self.by_route)}}

    def reset(self) -> None:
        """Start counting from zero."""
        self.by_route.clear()


class StatsMiddleware:
    """Counts every API request (not the `/_threadloom` endpoints themselves)."""

    def __init__(self, app: ASGIApp, stats: RequestStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http" and not scope["path"].startswith("/_threadloom"):
            self.stats.by_route[route_key(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)


REQUEST_ID_HEADER = "x-request-id"
_SERVER_ERROR = (
    "The server had an error while processing your request. Sorry about that! "
    "(Please include the request ID {request_id} if you report it.)"
)


async def send_envelope(
    send: Send, error: APIError, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer `error` in the envelope from ASGI code (outside FastAPI's handlers)."""
    body = encode(envelope(error.message, type=error.type, param=error.param, code=error.code))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        *(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in error.headers.items()
        ),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """The outermost layer: a request id on every answer, and no 500 ever leaves as text/plain.

    Every answer carries `x-request-id`; `/v1` answers also carry the fixed extension headers that let
    a client learn the server's additive extensions (`threadloom-idempotency-keys: <seconds>`). An
    exception nothing else handled is logged with the request id and answered 500 `server_error` in the
    envelope (the database transaction it interrupted has rolled back: `Database.run`). If the answer
    had already started (a stream), the connection is closed by the server instead.
    """

    def __init__(self, app: ASGIApp, extension_headers: list[tuple[str, str]]) -> None:
        self.app = app
        self.extension_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in extension_headers
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})[REQUEST_ID_KEY] = request_id
        added = [(REQUEST_ID_HEADER.encode(), request_id.encode())]
        if scope["path"].startswith("/v1"):
            added += self.extension_headers
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except APIError as refusal:  # raised outside the router, e.g. by the body limit
            if started:
                raise
            await send_envelope(send_with_headers, refusal)
        except Exception:
            log.exception(
                "unhandled error in %s %s (request id %s)", scope["method"], scope["path"], request_id
            )
            if started:
                raise
            failure = APIError(
                _SERVER_ERROR.format(request_id=request_id), status=500, type="server_error"
            )
            await send_envelope(send_with_headers, failure)


class BodyLimitMiddleware:
    """413 in the envelope for a request body over `max_bytes`, before the body is buffered.

    A declared `content-length` over the limit is refused without buffering anything: the body is read
    and thrown away for at most `DRAIN_SECONDS` (most clients, httpx and so the `openai` SDK among them,
    read no answer before they finish sending, and would see a reset connection instead of the 413, and
    retry), then answered, and the connection closed. A client that sent `Expect: 100-continue` is
    answered at once, before it sends the body. A chunked body is counted as it arrives and refused as
    soon as it passes the limit (the route's read raises the 413).
    """

    DRAIN_SECONDS = 5.0

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Routes with a limit of their own (a file upload): exact path -> bytes.
        self.path_limits = path_limits or {}

    def _too_large(self, limit: int) -> APIError:
        return APIError(
            f"The request body is larger than this server accepts ({limit} bytes).",
            status=413,
            code="request_too_large",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    if (b"expect", b"100-continue") not in scope["headers"]:
                        await self._drain(receive)
                    await send_envelope(send, self._too_large(limit), [(b"connection", b"close")])
                    return
                await self.app(scope, receive, send)  # uvicorn never delivers more than declared
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise self._too_large(limit)
            return message

        await self.app(scope, counted, send)

    async def _drain(self, receive: Receive) -> None:
        """Discard the request body as it arrives, for at most `DRAIN_SECONDS`."""
        try:
            async with asyncio.timeout(self.DRAIN_SECONDS):
                while True:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        return
        except TimeoutError:
            return
