"""``/vector_stores``: create, list, retrieve, delete, their files, and search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from threadloom.threads_client._models import DeletionStatus
from threadloom.threads_client._models_files import (
    VectorStore,
    VectorStoreFile,
    VectorStoreSearchPage,
)
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._resources._base import Resource, body, path


class VectorStoreFiles(Resource):
    """``/vector_stores/{id}/files``."""

    async def create(self, vector_store_id: str, file_id: str, **extra: Any) -> VectorStoreFile:
        """Add a file to the store (ingested in the background: poll the store or the file)."""
        return await self._client.request_model(
            VectorStoreFile,
            "POST",
            path("vector_stores", vector_store_id, "files"),
            json=body(file_id=file_id, **extra),
        )

    def list(
        self, vector_store_id: str, *, limit: int | None = None, after: str | None = None
    ) -> AsyncPage[VectorStoreFile]:
        """The store's files."""
        route = path("vector_stores", vector_store_id, "files")
        return self._client.page(VectorStoreFile, route, {"limit": limit, "after": after})


class VectorStores(Resource):
    """Vector stores: files chunked and indexed for ``file_search``."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.files = VectorStoreFiles(client)
        """The files of a store."""

    async def create(
        self,
        *,
        name: str | None = None,
        file_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> VectorStore:
        """Create a store, optionally with files.

        ``**extra``: further fields, e.g. ``expires_after``, ``chunking_strategy``.
        """
        payload = body(name=name, file_ids=list(file_ids) if file_ids else None, metadata=metadata)
        payload.update(body(**extra))
        return await self._client.request_model(VectorStore, "POST", "/vector_stores", json=payload)

    async def retrieve(self, vector_store_id: str) -> VectorStore:
        """Read a store (``status``, ``file_counts``)."""
        return await self._client.request_model(
            VectorStore, "GET", path("vector_stores", vector_store_id)
        )

    def list(
        self,
        *,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
    ) -> AsyncPage[VectorStore]:
        """List stores (newest first unless ``order="asc"``)."""
        params = {"limit": limit, "order": order, "after": after}
        return self._client.page(VectorStore, "/vector_stores", params)

    async def delete(self, vector_store_id: str) -> DeletionStatus:
        """Delete a store (its files stay)."""
        return await self._client.request_model(
            DeletionStatus, "DELETE", path("vector_stores", vector_store_id)
        )

    async def search(
        self,
        vector_store_id: str,
        query: str,
        *,
        max_num_results: int | None = None,
        score_threshold: float | None = None,
    ) -> VectorStoreSearchPage:
        """Search the store's chunks for ``query``."""
        ranking = None if score_threshold is None else {"score_threshold": score_threshold}
        payload = body(query=query, max_num_results=max_num_results, ranking_options=ranking)
        return await self._client.request_model(
            VectorStoreSearchPage,
            "POST",
            path("vector_stores", vector_store_id, "search"),
            json=payload,
        )
