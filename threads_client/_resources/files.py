"""``/files``: upload (multipart), list, retrieve, content, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from threadloom.threads_client._models import DeletionStatus
from threadloom.threads_client._models_files import FileObject
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._resources._base import Resource, path


class Files(Resource):
    """Files that vector stores and message attachments refer to."""

    async def create(
        self,
        file: Path | tuple[str, bytes],
        *,
        purpose: str = "assistants",
        content_type: str | None = None,
    ) -> FileObject:
        """Upload a file.

        Args:
            file: A path to read, or ``(filename, content)``.
            purpose: ``assistants`` for files that file_search reads.
            content_type: The part's content type (default: guessed by the server from the name).
        """
        if isinstance(file, Path):
            name, content = file.name, await asyncio.to_thread(file.read_bytes)
        else:
            name, content = file
        part = (name, content) if content_type is None else (name, content, content_type)
        response = await self._client._send(
            "POST", "/files", files={"file": part}, data={"purpose": purpose}
        )
        return FileObject.model_validate_json(response.content)

    async def retrieve(self, file_id: str) -> FileObject:
        """Read a file's object."""
        return await self._client.request_model(FileObject, "GET", path("files", file_id))

    async def content(self, file_id: str) -> bytes:
        """The file's bytes."""
        response = await self._client.request("GET", path("files", file_id, "content"))
        return response.content

    def list(
        self,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
    ) -> AsyncPage[FileObject]:
        """List files (newest first unless ``order="asc"``)."""
        params = {"purpose": purpose, "limit": limit, "order": order, "after": after}
        return self._client.page(FileObject, "/files", params)

    async def delete(self, file_id: str) -> DeletionStatus:
        """Delete a file (it leaves every vector store too)."""
        return await self._client.request_model(DeletionStatus, "DELETE", path("files", file_id))
