"""Files and vector stores, as the Files and Vector Stores APIs answer them."""

from __future__ import annotations

from typing import Any

from threadloom.threads_client._models import APIModel, Metadata

__all__ = [
    "FileCounts",
    "FileObject",
    "VectorStore",
    "VectorStoreFile",
    "VectorStoreFileBatch",
    "VectorStoreSearchContent",
    "VectorStoreSearchPage",
    "VectorStoreSearchResult",
]


class FileObject(APIModel):
    """An uploaded file (``object``: ``file``)."""

    id: str
    object: str = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str | None = None
    expires_at: int | None = None


class FileCounts(APIModel):
    """How many of a store's (or batch's) files are in each state."""

    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class VectorStore(APIModel):
    """A vector store (``object``: ``vector_store``); ``status`` ``completed`` means ready."""

    id: str
    object: str = "vector_store"
    created_at: int
    name: str | None = None
    usage_bytes: int = 0
    file_counts: FileCounts
    status: str
    expires_after: dict[str, Any] | None = None
    expires_at: int | None = None
    last_active_at: int | None = None
    metadata: Metadata | None = None


class VectorStoreFile(APIModel):
    """A file in a vector store (``object``: ``vector_store.file``)."""

    id: str
    object: str = "vector_store.file"
    created_at: int
    vector_store_id: str
    status: str
    usage_bytes: int = 0
    last_error: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = None


class VectorStoreFileBatch(APIModel):
    """A batch of files added to a store together."""

    id: str
    object: str
    created_at: int
    vector_store_id: str
    status: str
    file_counts: FileCounts


class VectorStoreSearchContent(APIModel):
    """One piece of a search result's text."""

    type: str
    text: str


class VectorStoreSearchResult(APIModel):
    """One passage a search found."""

    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any] | None = None
    content: list[VectorStoreSearchContent]

    @property
    def text(self) -> str:
        """The passage's text parts, joined."""
        return "\n".join(part.text for part in self.content if part.type == "text")


class VectorStoreSearchPage(APIModel):
    """The answer of a search (``object``: ``vector_store.search_results.page``)."""

    object: str
    search_query: list[str] | str
    data: list[VectorStoreSearchResult]
    has_more: bool = False
    next_page: str | None = None
