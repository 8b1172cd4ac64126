"""The shared resources of one app instance, created in the lifespan and reached by routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from threadloom.threads_server.events import RunEvents
from threadloom.threads_server.faults import HttpFaults
from threadloom.threads_server.http_layer import RequestStats
from threadloom.threads_server.idempotency import Idempotency
from threadloom.threads_server.runner import Runner
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import Database


@dataclass(frozen=True)
class Services:
    """Database, runner, event hub, settings, request counter, HTTP fault queue, idempotency keys."""

    settings: ServerSettings
    db: Database
    events: RunEvents
    runner: Runner
    stats: RequestStats
    faults: HttpFaults
    idempotency: Idempotency


async def services(request: Request) -> Services:
    """FastAPI dependency: the app's `Services` (async, so FastAPI does not hand it to a thread)."""
    found: Services = request.app.state.services
    return found
