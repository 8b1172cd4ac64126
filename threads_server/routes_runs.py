"""`/v1/threads/{thread_id}/runs…` and `/v1/threads/runs` (create thread and run).

GET run carries the additive long-poll: `wait_ms` (capped at `long_poll_max_ms`) holds the answer while
the run's status is one of `if_status` (repeated and/or comma-separated; default: its status on arrival)
until it changes or the wait ends. With `threadloom_messages=<n>` an answer whose run has ended also
carries the thread's newest n messages (`long_poll.latest_messages`) under `threadloom_messages`;
both are advertised on every answer (`threadloom-long-poll-max-ms`, `threadloom-run-messages`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from threadloom.threads_server import long_poll, tool_resources
from threadloom.threads_server.errors import APIError
from threadloom.threads_server.events import TERMINAL_RUN_STATUSES, Event
from threadloom.threads_server.request_body import (
    Include,
    dump,
    list_query,
    read_body,
    wants_content,
)
from threadloom.threads_server.request_models import (
    CreateRun,
    CreateThreadAndRun,
    ModifyMetadata,
    SubmitToolOutputs,
)
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import Conn, search_steps
from threadloom.threads_server.storage import messages as storage_messages
from threadloom.threads_server.storage import runs as storage_runs
from threadloom.threads_server.storage.rows import ListQuery
from threadloom.threads_server.streaming import sse_response

log = logging.getLogger("threads_server.runs")
router = APIRouter(tags=["runs"])
Svc = Annotated[Services, Depends(services)]
RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)


def parse_statuses(values: list[str] | None) -> set[str]:
    """The statuses of repeated and/or comma-separated `if_status` values; 400 for an unknown one."""
    statuses = {item.strip() for value in values or [] for item in value.split(",")}
    statuses.discard("")
    unknown = sorted(statuses - set(RUN_STATUSES))
    if unknown or (values and not statuses):
        allowed = ", ".join(f"'{status}'" for status in RUN_STATUSES[:-1])
        raise APIError(
            f"Invalid value for 'if_status': Input should be {allowed} or '{RUN_STATUSES[-1]}'.",
            param="if_status",
        )
    return statuses


def _start(
    svc: Services, run: dict[str, Any], stream: bool, prefix: list[Event] | None = None
) -> dict[str, Any] | StreamingResponse:
    """Launch a new run; with `stream`, answer its events as SSE."""
    if not stream:
        svc.runner.launch(run)
        return run
    subscription = svc.events.subscribe(run["id"])
    svc.runner.launch(run)
    return sse_response(subscription, prefix)


def _create_run(
    conn: Conn,
    thread_id: str,
    fields: dict[str, Any],
    expiry_seconds: float,
    max_messages: int,
) -> dict[str, Any]:
    """`storage_runs.create_run` after checking the thread has room for the additional messages."""
    adding = len(fields.get("additional_messages") or [])
    storage_messages.ensure_room(conn, thread_id, adding, max_messages)
    return storage_runs.create_run(conn, thread_id, fields, expiry_seconds)


def _run_of(created: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return created[1]


@router.post("/threads/runs", response_model=None)
async def create_thread_and_run(request: Request, svc: Svc) -> dict[str, Any] | Response:
    """Create a thread (with its messages) and start a run on it.

    Honours `Idempotency-Key` unless streaming; a replay answers the stored run and starts nothing.
    """
    body = await read_body(request, CreateThreadAndRun)
    fields = dump(body)
    await tool_resources.check(svc.db, fields)
    thread_fields = dict(fields.pop("thread", None) or {})
    if "tool_resources" in fields:
        thread_fields["tool_resources"] = fields.pop("tool_resources")
    thread_fields = await tool_resources.build_stores(svc.db, thread_fields, thread=True)
    created = await svc.idempotency.write(
        request,
        storage_runs.create_thread_and_run,
        thread_fields,
        fields,
        svc.settings.run_expiry_seconds,
        respond=_run_of,
        enabled=not body.stream,
    )
    if isinstance(created, Response):
        return created
    thread, run = created
    return _start(svc, run, bool(body.stream), [Event("thread.created", thread)])


@router.post("/threads/{thread_id}/runs", response_model=None)
async def create_run(
    thread_id: str, request: Request, svc: Svc, include: Include = None
) -> dict[str, Any] | Response:
    """Create a run (400 while another run holds the thread lock).

    Honours `Idempotency-Key` unless streaming; a replay answers the stored run and starts nothing.
    `include[]` (file_search result content) applies to the step events of a streamed run; list and
    get step take it themselves.
    """
    content = wants_content(include)
    body = await read_body(request, CreateRun)
    fields = dump(body)
    await tool_resources.check(svc.db, fields)
    run = await svc.idempotency.write(
        request,
        _create_run,
        thread_id,
        fields,
        svc.settings.run_expiry_seconds,
        svc.settings.max_messages_per_thread,
        enabled=not body.stream,
    )
    if isinstance(run, Response):
        return run
    if content and body.stream:
        await svc.db.run(search_steps.stream_content, run["id"])
    try:
        await tool_resources.attach_to_thread(svc.db, thread_id, fields.get("additional_messages") or [])
    except Exception:  # the run exists: it must start; it searches without these files
        log.exception("run %s: attaching its messages' files to the thread's store failed", run["id"])
    return _start(svc, run, bool(body.stream))


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str, svc: Svc, query: Annotated[ListQuery, Depends(list_query)]
) -> dict[str, Any]:
    """List a thread's runs."""
    return await svc.db.run(storage_runs.list_runs, thread_id, query)


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve_run(
    thread_id: str,
    run_id: str,
    request: Request,
    response: Response,
    svc: Svc,
    wait_ms: Annotated[int | None, Query(ge=0)] = None,
    if_status: Annotated[list[str] | None, Query()] = None,
    threadloom_messages: Annotated[int | None, Query(ge=1, le=long_poll.RUN_MESSAGES_MAX)] = None,
) -> dict[str, Any]:
    """Retrieve a run; with `wait_ms`, hold the answer while its status is one of `if_status`."""
    settings = svc.settings
    wait = min(wait_ms or 0, settings.long_poll_max_ms) / 1000
    held = parse_statuses(if_status)
    run = await long_poll.hold(request, svc.db, svc.events, thread_id, run_id, held, wait)
    response.headers["threadloom-long-poll-max-ms"] = str(settings.long_poll_max_ms)
    response.headers["threadloom-long-poll-if-status"] = "several"  # a list is understood
    response.headers["threadloom-run-messages"] = str(long_poll.RUN_MESSAGES_MAX)
    if run["status"] not in TERMINAL_RUN_STATUSES:
        response.headers["openai-poll-after-ms"] = str(settings.poll_after_ms)
    elif threadloom_messages:
        latest = await long_poll.latest_messages(svc.db, thread_id, threadloom_messages)
        return {**run, "threadloom_messages": latest}
    return run


@router.post("/threads/{thread_id}/runs/{run_id}")
async def modify_run(thread_id: str, run_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Replace a run's metadata."""
    body = await read_body(request, ModifyMetadata, allow_empty=True)
    return await svc.db.run(storage_runs.modify_run, thread_id, run_id, dump(body))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, svc: Svc) -> dict[str, Any]:
    """Cancel an active run: answers `cancelling`; the run becomes `cancelled` shortly after."""
    return await svc.runner.cancel(thread_id, run_id)


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", response_model=None)
async def submit_tool_outputs(
    thread_id: str, run_id: str, request: Request, svc: Svc
) -> dict[str, Any] | StreamingResponse:
    """Submit the outputs of every pending tool call; the run continues."""
    body = await read_body(request, SubmitToolOutputs)
    outputs = [item.model_dump() for item in body.tool_outputs]
    if not body.stream:
        return await svc.runner.submit_tool_outputs(thread_id, run_id, outputs)
    subscription = svc.events.subscribe(run_id)
    try:
        await svc.runner.submit_tool_outputs(thread_id, run_id, outputs)
    except BaseException:
        subscription.close()
        raise
    return sse_response(subscription)
