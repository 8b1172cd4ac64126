"""Heartbeats: how Temporal tells a slow activity from a dead worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import activity

DEFAULT_BEAT_SECONDS = 1.0


def beat(*details: object) -> None:
    """Heartbeat if this is a regular activity (local activities cannot heartbeat)."""
    if not activity.info().is_local:
        activity.heartbeat(*details)


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background for as long as the block runs.

    The block may sit in one long-poll request for several seconds; beating beside it (at a third of
    the heartbeat timeout) keeps the worker's liveness separate from how long the server holds us.
    """
    timeout = activity.info().heartbeat_timeout
    every = timeout.total_seconds() / 3 if timeout else DEFAULT_BEAT_SECONDS

    async def loop() -> None:
        while True:
            beat()
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
