"""A threads server as a client that knows nothing of threadloom's extensions would see it."""

from __future__ import annotations

import httpx

EXTENSION_HEADERS = (
    "threadloom-long-poll-max-ms",
    "threadloom-long-poll-if-status",
    "threadloom-run-messages",
    "threadloom-idempotency-keys",
)


class PlainServer(httpx.AsyncBaseTransport):
    """Real HTTP to the threads server, minus every header that advertises an extension: to the
    client it is any Assistants-v2 server (no long-poll, no keys, no messages beside a run)."""

    def __init__(self) -> None:
        self._http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._http.handle_async_request(request)
        for name in EXTENSION_HEADERS:
            response.headers.pop(name, None)
        return response

    async def aclose(self) -> None:
        await self._http.aclose()
