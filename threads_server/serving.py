"""Running the app under uvicorn, with a protocol that lets fault injection drop connections.

The HTTP parser is httptools (C) when it is installed (a dependency of threadloom), else h11 (pure
Python, several times the CPU per request).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from threads_server.faults import TRANSPORT_KEY


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


def build_server(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Server:
    """A uvicorn server for `app` (not started)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_protocol(),
        ws="none",
        lifespan="on",
        **options,
    )
    return uvicorn.Server(config)
