"""Running the app under uvicorn, with a protocol that lets fault injection drop connections.

The HTTP parser is httptools (C) when it is installed (a dependency of threadloom), else h11 (pure
Python, several times the CPU per request).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from threadloom.threads_server.faults import TRANSPORT_KEY


class _TransportInState(asyncio.Protocol):
    """Mixin for a uvicorn HTTP protocol: exposes the connection's transport in the ASGI `state`.

    `drop` faults need to close the socket without writing anything; ASGI has no message for that.
    """

    app_state: dict[str, Any]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Remember the transport for the requests of this connection."""
        super().connection_made(transport)
        self.app_state = {**self.app_state, TRANSPORT_KEY: transport}


class DroppableH11Protocol(_TransportInState, H11Protocol):
    """uvicorn's h11 protocol with the transport in the ASGI `state`."""


def _protocol() -> type[asyncio.Protocol]:
    """The httptools protocol with the transport in the ASGI `state`, or h11 without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is not installed
        return DroppableH11Protocol

    class DroppableHttpToolsProtocol(_TransportInState, HttpToolsProtocol):
        """uvicorn's httptools protocol with the transport in the ASGI `state`."""

    return DroppableHttpToolsProtocol


CONNECTION_CLOSE_SECONDS = 3.0
"""After the runs are drained, how long open responses get to finish before uvicorn cancels them."""


class GracefulServer(uvicorn.Server):
    """uvicorn, whose shutdown first drains the threads server's runs (`Runner.drain`).

    uvicorn's own graceful shutdown waits for every open connection, and an SSE stream of a stalled
    run stays open until the run expires. Draining first ends every stream with a terminal or
    `error` event, so the connections close; `timeout_graceful_shutdown` bounds what is left.
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting connections, drain the runs, then shut down as uvicorn does."""
        for server in self.servers:
            server.close()  # no new connections while the runs drain
        services = getattr(self._app.state, "services", None)
        if services is not None:
            await services.runner.drain(services.settings.shutdown_grace_seconds)
        await super().shutdown(sockets)


def build_server(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Server:
    """A uvicorn server for `app` (not started), with a bounded graceful shutdown."""
    options.setdefault("timeout_graceful_shutdown", CONNECTION_CLOSE_SECONDS)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_protocol(),
        ws="none",
        lifespan="on",
        **options,
    )
    return GracefulServer(config, app)
