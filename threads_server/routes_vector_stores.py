"""`/v1/vector_stores…`: stores, their files, file batches, and search.

Ids are checked before anything is written (an unknown file id is a 400, an unknown store a 404),
chunking strategies resolved (`files.chunking`), and ingestion woken (`files.ingest`); the objects'
`status` and `file_counts` then move as the background ingestion completes files.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from threadloom.threads_server import retrieval
from threadloom.threads_server.errors import APIError
from threadloom.threads_server.files import ingest
from threadloom.threads_server.files.chunking import resolve
from threadloom.threads_server.files.requests import (
    CreateBatch,
    CreateStoreFile,
    CreateVectorStore,
    ModifyVectorStore,
    Search,
    UpdateAttributes,
)
from threadloom.threads_server.request_body import dump, list_query, read_body
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import files as storage_files
from threadloom.threads_server.storage import vector_store_files as store_files
from threadloom.threads_server.storage import vector_stores as storage_stores
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.rows import ListQuery

router = APIRouter(tags=["vector_stores"])
Svc = Annotated[Services, Depends(services)]
Listing = Annotated[ListQuery, Depends(list_query)]
StatusFilter = Annotated[
    Literal["in_progress", "completed", "failed", "cancelled"] | None, Query(alias="filter")
]


@router.post("/vector_stores")
async def create_vector_store(request: Request, svc: Svc) -> dict[str, Any]:
    """Create a store, optionally with files (ingested in the background)."""
    body = dump(await read_body(request, CreateVectorStore, allow_empty=True))
    return await retrieval.create_store_object(svc.db, body, body.get("chunking_strategy"))


@router.get("/vector_stores")
async def list_vector_stores(svc: Svc, query: Listing) -> dict[str, Any]:
    """List stores."""
    return await svc.db.run(storage_stores.list_stores, query)


@router.get("/vector_stores/{vector_store_id}")
async def retrieve_vector_store(vector_store_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve a store."""
    return await svc.db.run(storage_stores.get_store, vector_store_id)


@router.post("/vector_stores/{vector_store_id}")
async def modify_vector_store(vector_store_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Change a store's name, metadata or expiry."""
    body = dump(await read_body(request, ModifyVectorStore, allow_empty=True))
    return await svc.db.run(storage_stores.modify_store, vector_store_id, body)


@router.delete("/vector_stores/{vector_store_id}")
async def delete_vector_store(vector_store_id: str, svc: Svc) -> dict[str, Any]:
    """Delete a store (its files stay)."""
    return await svc.db.run(storage_stores.delete_store, vector_store_id)


@router.post("/vector_stores/{vector_store_id}/search")
async def search_vector_store(vector_store_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Search a store's chunks (`retrieval.search`)."""
    try:
        body = await read_body(request, Search)
    except ValidationError as exc:
        # `errors.validation_error` reads a leading "query" as FastAPI's location, not this field.
        first = exc.errors()[0]
        if first.get("loc", ())[:1] == ("query",):
            message = str(first.get("msg", "invalid value")).rstrip(".")
            raise APIError(f"Invalid value for 'query': {message}.", param="query") from None
        raise
    store = await svc.db.run(storage_stores.get_store_row, vector_store_id)
    if storage_stores.is_expired(store):
        raise APIError(f"Vector store '{vector_store_id}' has expired.", param="vector_store_id")
    threshold = body.ranking_options.score_threshold if body.ranking_options else 0.0
    hits = await retrieval.search(
        svc.db,
        [vector_store_id],
        body.query,
        max_num_results=body.max_num_results,
        score_threshold=threshold,
        filters=body.filters,
    )
    queries = [body.query] if isinstance(body.query, str) else list(body.query)
    return {
        "object": "vector_store.search_results.page",
        "search_query": queries,
        "data": [
            {
                "file_id": hit.file_id,
                "filename": hit.filename,
                "score": hit.score,
                "attributes": hit.attributes,
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in hits
        ],
        "has_more": False,
        "next_page": None,
    }


# -- files of a store -------------------------------------------------------------------------


@router.post("/vector_stores/{vector_store_id}/files")
async def create_store_file(vector_store_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Attach a file to a store (ingested in the background)."""
    body = await read_body(request, CreateStoreFile)
    fields = dump(body)
    chunking = resolve(fields.get("chunking_strategy"))
    files = [(body.file_id, chunking, fields.get("attributes"))]
    [attached] = await svc.db.run(store_files.attach_files, vector_store_id, files)
    ingest.wake(svc.db)
    return attached


@router.get("/vector_stores/{vector_store_id}/files")
async def list_store_files(
    vector_store_id: str, svc: Svc, query: Listing, status: StatusFilter = None
) -> dict[str, Any]:
    """List a store's files, optionally of one status."""
    return await svc.db.run(store_files.list_store_files, vector_store_id, query, status)


@router.get("/vector_stores/{vector_store_id}/files/{file_id}")
async def retrieve_store_file(vector_store_id: str, file_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve a store file."""
    return await svc.db.run(store_files.get_store_file, vector_store_id, file_id)


@router.post("/vector_stores/{vector_store_id}/files/{file_id}")
async def update_store_file(
    vector_store_id: str, file_id: str, request: Request, svc: Svc
) -> dict[str, Any]:
    """Replace a store file's attributes."""
    body = dump(await read_body(request, UpdateAttributes))
    attributes = body.get("attributes")
    return await svc.db.run(store_files.update_attributes, vector_store_id, file_id, attributes)


@router.delete("/vector_stores/{vector_store_id}/files/{file_id}")
async def delete_store_file(vector_store_id: str, file_id: str, svc: Svc) -> dict[str, Any]:
    """Remove a file from a store (the file stays)."""
    return await svc.db.run(store_files.remove_store_file, vector_store_id, file_id)


def _content(conn: Conn, vector_store_id: str, file_id: str) -> dict[str, Any]:
    store_files.get_store_file(conn, vector_store_id, file_id)
    text = storage_files.file_text(conn, file_id) or ""
    return {
        "object": "vector_store.file_content.page",
        "data": [{"type": "text", "text": text}],
        "has_more": False,
        "next_page": None,
    }


@router.get("/vector_stores/{vector_store_id}/files/{file_id}/content")
async def store_file_content(vector_store_id: str, file_id: str, svc: Svc) -> dict[str, Any]:
    """The text extracted from a store's file."""
    return await svc.db.run(_content, vector_store_id, file_id)


# -- file batches -----------------------------------------------------------------------------


@router.post("/vector_stores/{vector_store_id}/file_batches")
async def create_batch(vector_store_id: str, request: Request, svc: Svc) -> dict[str, Any]:
    """Attach many files at once (`file_ids` with shared options, or `files` each with its own)."""
    fields = dump(await read_body(request, CreateBatch))
    if fields.get("files") is not None:
        files = [
            (f["file_id"], resolve(f.get("chunking_strategy")), f.get("attributes"))
            for f in fields["files"]
        ]
    else:
        chunking = resolve(fields.get("chunking_strategy"))
        files = [(f, chunking, fields.get("attributes")) for f in dict.fromkeys(fields["file_ids"])]
    batch = await svc.db.run(store_files.create_batch, vector_store_id, files)
    ingest.wake(svc.db)
    return batch


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}")
async def retrieve_batch(vector_store_id: str, batch_id: str, svc: Svc) -> dict[str, Any]:
    """Retrieve a batch."""
    return await svc.db.run(store_files.get_batch, vector_store_id, batch_id)


@router.post("/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")
async def cancel_batch(vector_store_id: str, batch_id: str, svc: Svc) -> dict[str, Any]:
    """Cancel the batch's files not ingested yet."""
    return await svc.db.run(store_files.cancel_batch, vector_store_id, batch_id)


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}/files")
async def list_batch_files(
    vector_store_id: str, batch_id: str, svc: Svc, query: Listing, status: StatusFilter = None
) -> dict[str, Any]:
    """List a batch's files."""

    def page(conn: Conn) -> dict[str, Any]:
        store_files.get_batch_row(conn, vector_store_id, batch_id)
        return store_files.list_store_files(conn, vector_store_id, query, status, batch_id)

    return await svc.db.run(page)
