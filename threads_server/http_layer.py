"""The HTTP layer around the API: the request counter, extension headers and API-key authentication.

`GET /_threadloom/stats` reports how many requests the server saw, per route template
(`GET /v1/threads/{thread_id}/runs/{run_id}`); the benchmark uses it to count requests per turn.
"""

from __future__ import annotations

import hmac
import json
import re
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threads_server.errors import envelope

_ID_NAMES = {
    "thread": "thread_id",
    "msg": "message_id",
    "run": "run_id",
    "step": "step_id",
    "asst": "assistant_id",
}
_ID = re.compile(r"^(thread|msg|run|step|asst)_[A-Za-z0-9]+$")


def route_key(method: str, path: str) -> str:
    """`METHOD /path` with object ids replaced by `{name}` placeholders."""
    segments = []
    for segment in path.split("/"):
        match = _ID.match(segment)
        segments.append("{" + _ID_NAMES[match.group(1)] + "}" if match else segment)
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


class ExtensionHeadersMiddleware:
    """Adds fixed headers to every `/v1` answer (errors, faults and streams included).

    They let a client learn the server's additive extensions from any response, e.g.
    `threadloom-idempotency-keys: <retention seconds>`.
    """

    def __init__(self, app: ASGIApp, headers: list[tuple[str, str]]) -> None:
        self.app = app
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if not self.headers or scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AuthMiddleware:
    """401 for `/v1` requests without the configured key (`Authorization: Bearer` or `api-key`)."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if self.api_key is None or scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        authorization = headers.get("authorization", "")
        given = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        given = given or headers.get("api-key", "").strip()
        if given and hmac.compare_digest(given.encode(), self.api_key.encode()):
            await self.app(scope, receive, send)
            return
        message = (
            "Incorrect API key provided."
            if given
            else "You didn't provide an API key. Provide it as 'Authorization: Bearer <key>'."
        )
        body = json.dumps(
            envelope(message, type="invalid_request_error", code="invalid_api_key")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
