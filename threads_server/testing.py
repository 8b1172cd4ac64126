"""Test helpers: the real server on a free port, or the app in-process through httpx.

```python
async with running_server(tmp_path, faults_enabled=True) as server:
    client = ThreadsClient(base_url=server.base_url)
```
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from threadloom.threads_server.app import create_app
from threadloom.threads_server.serving import build_server
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import DatabaseTarget


@dataclass(frozen=True)
class ServerHandle:
    """A running server: `base_url` ends in `/v1`; `root_url` is scheme, host and port."""

    base_url: str
    root_url: str
    app: FastAPI
    settings: ServerSettings


def make_settings(tmp_path_or_db: Path | str, **settings: Any) -> ServerSettings:
    """Server settings for tests: a directory gets `threads.db` inside it; a file path is used; a
    `postgresql://` URL is the database."""
    if DatabaseTarget.parse(tmp_path_or_db).kind == "postgresql":
        return ServerSettings(database_url=SecretStr(str(tmp_path_or_db)), **settings)
    path = Path(tmp_path_or_db)
    db_path = path / "threads.db" if path.is_dir() else path
    return ServerSettings(db_path=db_path, **settings)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(app: FastAPI, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve any ASGI app with uvicorn on a free port in this event loop; yields its root URL."""
    port = _free_port(host)
    server = build_server(app, host, port, log_level="warning", access_log=False)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def running_server(tmp_path_or_db: Path | str, **settings: Any) -> AsyncIterator[ServerHandle]:
    """Serve the real app with uvicorn on a free 127.0.0.1 port inside the current event loop.

    Runs still executing when the block ends are failed after 0.5 s (`shutdown_grace_seconds`
    unless given), so tests that leave a stalled run do not wait out the production default.
    """
    settings.setdefault("shutdown_grace_seconds", 0.5)
    config = make_settings(tmp_path_or_db, **settings)
    app = create_app(config)
    async with serve(app) as root:
        yield ServerHandle(base_url=f"{root}/v1", root_url=root, app=app, settings=config)


@asynccontextmanager
async def app_client(
    tmp_path_or_db: Path | str, *, event_hooks: dict[str, list[Any]] | None = None, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The app in-process (lifespan run) and an httpx client for it; base URL `http://test/v1`."""
    app = create_app(make_settings(tmp_path_or_db, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test/v1", event_hooks=event_hooks
        ) as client:
            yield client, app
