"""`/v1/threads/{thread_id}/messages…`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from threadloom.threads_server import tool_resources
from threadloom.threads_server.request_body import dump, list_query, read_body
from threadloom.threads_server.request_models import CreateMessage, ModifyMetadata
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import messages as storage_messages
from threadloom.threads_server.storage.rows import ListQuery

router = APIRouter(tags=["messages"])
Svc = Annotated[Services, Depends(services)]


@router.post("/threads/{thread_id}/messages", response_model=None)
async def create_message(thread_id: str, request: Request, svc: Svc) -> dict[str, Any] | Response:
    """Add a message (400 while a run holds the thread lock; honours `Idempotency-Key`)."""
    body = await read_body(request, CreateMessage)
    fields = dump(body)
    await tool_resources.check(svc.db, fields)
    message = await svc.idempotency.write(
        request,
        storage_messages.create_message,
        thread_id,
        fields,
        svc.settings.max_messages_per_thread,
    )
    if not isinstance(message, Response):
        await tool_resources.attach_to_thread(svc.db, thread_id, [fields])
    return message


@router.get("/threads/{thread_id}/messages")
async def list_messages(
    thread_id: str,
    svc: Svc,
    query: Annotated[ListQuery, Depends(list_query)],
    run_id: str | None = None,
) -> dict[str, Any]:
    """List messages, newest first unless `order=asc`; `run_id` keeps those a run created."""
    return await svc.db.run(storage_messages.list_messages, thread_id, query, run_id)


@router.get("/threads/{thread_id}/messages/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve a message."""
    return await svc.db.run(storage_messages.get_message, thread_id, message_id)


@router.post("/threads/{thread_id}/messages/{message_id}")
async def modify_message(thread_id: str, message_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Replace a message's metadata."""
    body = await read_body(request, ModifyMetadata, allow_empty=True)
    return await svc.db.run(storage_messages.modify_message, thread_id, message_id, dump(body))


@router.delete("/threads/{thread_id}/messages/{message_id}")
async def delete_message(thread_id: str, message_id: str, svc: Svc) -> dict[str, Any]:
    """Delete a message."""
    return await svc.db.run(storage_messages.delete_message, thread_id, message_id)
