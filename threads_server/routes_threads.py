"""`/v1/threads` and `/v1/threads/{thread_id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from threadloom.threads_server import tool_resources
from threadloom.threads_server.request_body import dump, read_body
from threadloom.threads_server.request_models import CreateThread, ModifyThread
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import threads as storage_threads

router = APIRouter(tags=["threads"])
Svc = Annotated[Services, Depends(services)]


@router.post("/threads", response_model=None)
async def create_thread(request: Request, svc: Svc) -> dict[str, Any] | Response:
    """Create a thread, optionally with initial messages (honours `Idempotency-Key`)."""
    body = await read_body(request, CreateThread, allow_empty=True)
    fields = dump(body)
    await tool_resources.check(svc.db, fields)
    fields = await tool_resources.build_stores(svc.db, fields, thread=True)
    return await svc.idempotency.write(request, storage_threads.create_thread, fields)


@router.get("/threads/{thread_id}")
async def retrieve_thread(thread_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve a thread."""
    return await svc.db.run(storage_threads.get_thread, thread_id)


@router.post("/threads/{thread_id}")
async def modify_thread(thread_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Replace a thread's metadata and/or tool resources."""
    body = await read_body(request, ModifyThread, allow_empty=True)
    fields = dump(body)
    await tool_resources.check(svc.db, fields)
    return await svc.db.run(storage_threads.modify_thread, thread_id, fields)


@router.delete("/threads/{thread_id}")
async def delete_thread(thread_id: str, svc: Svc) -> dict[str, Any]:
    """Delete a thread with everything on it; its active runs stop (`Runner.delete_thread`)."""
    return await svc.runner.delete_thread(thread_id)
