"""`/v1/threads/{thread_id}/runs/{run_id}/steps…`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from threadloom.threads_server.request_body import list_query
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
    thread_id: str, run_id: str, svc: Svc, query: Annotated[ListQuery, Depends(list_query)]
) -> dict[str, Any]:
    """List a run's steps (`include[]` is accepted and ignored)."""
    return await svc.db.run(_steps_page, thread_id, run_id, query)


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_run_step(thread_id: str, run_id: str, step_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve a run step."""
    return await svc.db.run(_step, thread_id, run_id, step_id)
