"""`/v1/assistants…`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from threadloom.threads_server import tool_resources
from threadloom.threads_server.request_body import dump, list_query, read_body
from threadloom.threads_server.request_models import AssistantFields, CreateAssistant
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import assistants as storage_assistants
from threadloom.threads_server.storage.rows import ListQuery

router = APIRouter(tags=["assistants"])
Svc = Annotated[Services, Depends(services)]


@router.post("/assistants", response_model=None)
async def create_assistant(request: Request, svc: Svc) -> dict[str, Any] | Response:
    """Create an assistant (`model` selects the responder: `echo` or a chat model).

    Honours `Idempotency-Key`.
    """
    body = await read_body(request, CreateAssistant)
    fields = dump(body)
    await tool_resources.check(svc.db, fields)
    fields = await tool_resources.build_stores(svc.db, fields, thread=False)
    return await svc.idempotency.write(request, storage_assistants.create_assistant, fields)


@router.get("/assistants")
async def list_assistants(svc: Svc, query: Annotated[ListQuery, Depends(list_query)]) -> dict[str, Any]:
    """List assistants."""
    return await svc.db.run(storage_assistants.list_assistants, query)


@router.get("/assistants/{assistant_id}")
async def retrieve_assistant(assistant_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve an assistant."""
    return await svc.db.run(storage_assistants.get_assistant, assistant_id)


@router.post("/assistants/{assistant_id}")
async def modify_assistant(assistant_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Change an assistant's fields."""
    body = await read_body(request, AssistantFields, allow_empty=True)
    fields = dump(body)
    await tool_resources.check(svc.db, fields)
    return await svc.db.run(storage_assistants.modify_assistant, assistant_id, fields)


@router.delete("/assistants/{assistant_id}")
async def delete_assistant(assistant_id: str, svc: Svc) -> dict[str, Any]:
    """Delete an assistant."""
    return await svc.db.run(storage_assistants.delete_assistant, assistant_id)
