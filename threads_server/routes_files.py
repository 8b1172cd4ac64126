"""`/v1/files…`: upload (multipart), list, retrieve, content, delete.

An upload is checked whole before anything is stored (`files.uploads`): purpose, size
(`max_file_bytes`; the body limit of this route is that plus room for the form), emptiness,
format and `expires_after`. Deleting a file removes it from every vector store.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import UploadFile

from threadloom.threads_server.errors import APIError
from threadloom.threads_server.files.extract import content_type
from threadloom.threads_server.files.uploads import (
    check_expiry,
    check_purpose,
    check_upload,
    store_upload,
)
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import files as storage_files
from threadloom.threads_server.storage.rows import ListQuery

router = APIRouter(tags=["files"])
Svc = Annotated[Services, Depends(services)]
FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the multipart framing and the small fields around the file, above `max_file_bytes`."""


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value
    raise APIError(f"Invalid value for '{name}': expected a text field.", param=name)


@router.post("/files")
async def create_file(request: Request, svc: Svc) -> dict[str, Any]:
    """Upload a file (`multipart/form-data`: `file`, `purpose`, optional `expires_after[...]`)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise APIError("Uploads must be multipart/form-data with a 'file' and a 'purpose'.")
    try:
        form = await request.form(max_files=1, max_fields=16)
    except APIError:
        raise
    except Exception as exc:  # starlette raises its own HTTPException / MultiPartException here
        raise APIError(f"Could not parse the multipart body: {exc}") from None
    try:
        purpose = check_purpose(_field(form, "purpose"))
        expires_in = check_expiry(
            _field(form, "expires_after[anchor]"), _field(form, "expires_after[seconds]")
        )
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise APIError("Missing required parameter: 'file'.", param="file")
        if not upload.filename:
            raise APIError("The uploaded file has no file name.", param="file")
        content = await upload.read(svc.settings.max_file_bytes + 1)
    finally:
        await form.close()
    checked = await check_upload(
        upload.filename,
        content,
        purpose,
        max_bytes=svc.settings.max_file_bytes,
        expires_in=expires_in,
    )
    return await store_upload(svc.db, checked)


@router.get("/files")
async def list_files(
    svc: Svc,
    purpose: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """List files, newest first by default."""
    query = ListQuery(limit=limit, order=order, after=after)
    return await svc.db.run(storage_files.list_files, query, purpose)


@router.get("/files/{file_id}")
async def retrieve_file(file_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve a file object."""
    return await svc.db.run(storage_files.get_file, file_id)


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, svc: Svc) -> Response:
    """The bytes of a file, as uploaded."""
    file, content = await svc.db.run(storage_files.file_content, file_id)
    return Response(content, media_type=content_type(file["filename"]))


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, svc: Svc) -> dict[str, Any]:
    """Delete a file and remove it from every vector store."""
    return await svc.db.run(storage_files.delete_file, file_id)
