"""`/v1/threads/{thread_id}/runs/{run_id}/steps…`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from threadloom.threads_server.file_search import without_content
from threadloom.threads_server.request_body import Include, list_query, wants_content
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import Conn
from threadloom.threads_server.storage import runs as storage_runs
from threadloom.threads_server.storage import steps as storage_steps
from threadloom.threads_server.storage.rows import ListQuery

router = APIRouter(tags=["run steps"])
Svc = Annotated[Services, Depends(services)]


def _steps_page(conn: Conn, thread_id: str, run_id: str, query: ListQuery) -> dict[str, Any]:
    storage_runs.get_run(conn, thread_id, run_id)
    return storage_steps.list_steps(conn, run_id, query)


def _step(conn: Conn, thread_id: str, run_id: str, step_id: str) -> dict[str, Any]:
    storage_runs.get_run(conn, thread_id, run_id)
    return storage_steps.get_step(conn, thread_id, run_id, step_id)


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_run_steps(
    thread_id: str,
    run_id: str,
    svc: Svc,
    query: Annotated[ListQuery, Depends(list_query)],
    include: Include = None,
) -> dict[str, Any]:
    """List a run's steps; file_search results carry their `content` only with `include[]`."""
    page = await svc.db.run(_steps_page, thread_id, run_id, query)
    if not wants_content(include):
        page["data"] = [without_content(step) for step in page["data"]]
    return page


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_run_step(
    thread_id: str, run_id: str, step_id: str, svc: Svc, include: Include = None
) -> dict[str, Any]:
    """Retrieve a run step; file_search results carry their `content` only with `include[]`."""
    step = await svc.db.run(_step, thread_id, run_id, step_id)
    return step if wants_content(include) else without_content(step)
