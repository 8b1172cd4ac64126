"""Assembles the FastAPI app: routers under `/v1`, error handlers, HTTP layer, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from threadloom.threads_server import (
    routes_assistants,
    routes_internal,
    routes_messages,
    routes_run_events,
    routes_runs,
    routes_steps,
    routes_threads,
)
from threadloom.threads_server.auth import AuthMiddleware, warn_if_unauthenticated
from threadloom.threads_server.errors import install_error_handlers
from threadloom.threads_server.events import RunEvents
from threadloom.threads_server.faults import HttpFaultMiddleware, HttpFaults
from threadloom.threads_server.http_layer import (
    BodyLimitMiddleware,
    RequestContextMiddleware,
    RequestStats,
    StatsMiddleware,
)
from threadloom.threads_server.idempotency import ADVERTISE_HEADER, Idempotency
from threadloom.threads_server.replicas import replica_for
from threadloom.threads_server.responders import Responder
from threadloom.threads_server.responders.chat_completions import ChatCompletionsResponder
from threadloom.threads_server.responders.echo import EchoResponder
from threadloom.threads_server.run_log import RunLog  # streaming turns (issue 15)
from threadloom.threads_server.runner import Runner
from threadloom.threads_server.services import Services
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import Database, open_database
from threadloom.threads_server.wire_json import WireJSONResponse

log = logging.getLogger("threads_server")


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The threads server app; its lifespan opens the database and recovers interrupted runs."""
    settings = settings or ServerSettings()
    stats = RequestStats()
    faults = HttpFaults()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warn_if_unauthenticated(settings.host, settings.api_key is not None)
        db = open_database(settings.database, pool_size=settings.database_pool_size)
        await db.open()
        try:
            async with _serving(app, db) as runner:
                try:
                    yield
                finally:
                    await runner.shutdown()
        finally:
            await db.close()

    @asynccontextmanager
    async def _serving(app: FastAPI, db: Database) -> AsyncIterator[Runner]:
        responders: dict[str, Responder] = {"echo": EchoResponder()}
        chat = None
        if settings.llm.base_url:
            chat = ChatCompletionsResponder(settings.llm)
            responders["chat_completions"] = chat
        elif settings.responder == "chat_completions":
            raise RuntimeError("responder 'chat_completions' needs THREADLOOM_LLM_BASE_URL")
        try:
            events = RunEvents(settings.stream_queue_max_events, settings.stream_stall_seconds)
            events.log = RunLog()  # streaming turns: runs' events kept for re-attaching readers
            runner = Runner(db, events, settings, responders, replica_for(db, events, settings))
            recovered = await runner.recover()
            if recovered:
                log.warning("failed %d run(s) interrupted by a restart", len(recovered))
            idempotency = Idempotency(db, settings.idempotency_retention_seconds)
            await idempotency.purge()
            app.state.services = Services(settings, db, events, runner, stats, faults, idempotency)
            yield runner
        finally:
            if chat is not None:
                await chat.aclose()

    app = FastAPI(
        title="threadloom Threads API",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=WireJSONResponse,
    )
    install_error_handlers(app)
    # routes_runs first: its `POST /threads/runs` must win over `POST /threads/{thread_id}`.
    for module in (
        routes_runs,
        routes_threads,
        routes_messages,
        routes_steps,
        routes_assistants,
    ):
        app.include_router(module.router, prefix="/v1")
    app.include_router(routes_internal.router)
    app.include_router(routes_run_events.router, prefix="/v1")  # streaming turns
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    advertised: list[tuple[str, str]] = []
    if settings.idempotency_retention_seconds > 0:
        advertised.append((ADVERTISE_HEADER, str(settings.idempotency_retention_seconds)))
    advertised.append((routes_run_events.ADVERTISE_HEADER, "1"))  # streaming turns
    # Added innermost first, so a request meets: request id and last-resort 500 → stats → auth →
    # HTTP faults (only authenticated requests consume one) → body limit → routes.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpFaultMiddleware, faults=faults, enabled=settings.faults_enabled)
    app.add_middleware(AuthMiddleware, api_key=api_key)
    app.add_middleware(StatsMiddleware, stats=stats)
    app.add_middleware(RequestContextMiddleware, extension_headers=advertised)
    return app
