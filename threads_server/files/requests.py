"""Request bodies of the Vector Stores API, strict like the rest (`request_tools.Strict`): unknown
fields, wrong types and values out of the spec's ranges are a 400, and nothing is stored.

Ranges (files-vector-stores.openapi.yaml, FILES-BEHAVIOUR.md): `expires_after.days` 1-365 from
`last_active_at`; static chunking 100-4096 tokens, overlap 0 to half the size; `file_ids` at most
500 on create, 1-2000 in a batch (`file_ids` or `files`, not both); attributes at most 16 keys of
at most 64 characters, values strings of at most 512 characters, numbers or booleans; search
`max_num_results` 1-50, `score_threshold` 0-1.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from threadloom.threads_server.files.chunking import MAX_CHUNK, MIN_CHUNK
from threadloom.threads_server.files.filters import FilterError, check
from threadloom.threads_server.request_models import Metadata
from threadloom.threads_server.request_tools import Strict


class ExpiresAfter(Strict):
    """`{"anchor": "last_active_at", "days": 1..365}`."""

    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class StaticSizes(Strict):
    """The sizes of a static chunking strategy."""

    max_chunk_size_tokens: int = Field(ge=MIN_CHUNK, le=MAX_CHUNK)
    chunk_overlap_tokens: int = Field(ge=0)

    @model_validator(mode="after")
    def _overlap_at_most_half(self) -> StaticSizes:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise ValueError("chunk_overlap_tokens must not exceed half of max_chunk_size_tokens")
        return self


class AutoChunking(Strict):
    """`{"type": "auto"}`: 800 tokens, 400 overlap."""

    type: Literal["auto"]


class StaticChunking(Strict):
    """`{"type": "static", "static": {...}}`."""

    type: Literal["static"]
    static: StaticSizes


Chunking = Annotated[AutoChunking | StaticChunking, Field(discriminator="type")]
AttributeValue = Annotated[StrictStr, Field(max_length=512)] | StrictBool | StrictInt | StrictFloat


def _check_attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        if len(value) > 16:
            raise ValueError("at most 16 attributes are allowed")
        if any(len(key) > 64 for key in value):
            raise ValueError("attribute names can be at most 64 characters long")
    return value


Attributes = Annotated[dict[str, AttributeValue] | None, AfterValidator(_check_attributes)]


class CreateVectorStore(Strict):
    """`POST /vector_stores`."""

    file_ids: list[str] | None = Field(default=None, max_length=500)
    name: str | None = None
    description: str | None = None  # accepted, as OpenAI's API does; the object has no field for it
    expires_after: ExpiresAfter | None = None
    chunking_strategy: Chunking | None = None
    metadata: Metadata = None


class ModifyVectorStore(Strict):
    """`POST /vector_stores/{id}`; `expires_after: null` removes the expiry."""

    name: str | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class CreateStoreFile(Strict):
    """`POST /vector_stores/{id}/files`, and one entry of a batch's `files`."""

    file_id: str = Field(min_length=1)
    chunking_strategy: Chunking | None = None
    attributes: Attributes = None


class CreateBatch(Strict):
    """`POST /vector_stores/{id}/file_batches`: `file_ids` or `files`."""

    file_ids: list[str] | None = Field(default=None, min_length=1, max_length=2000)
    files: list[CreateStoreFile] | None = Field(default=None, min_length=1, max_length=2000)
    chunking_strategy: Chunking | None = None
    attributes: Attributes = None

    @model_validator(mode="after")
    def _one_of(self) -> CreateBatch:
        if (self.file_ids is None) == (self.files is None):
            raise ValueError("give exactly one of 'file_ids' and 'files'")
        return self


class UpdateAttributes(Strict):
    """`POST /vector_stores/{id}/files/{file_id}`."""

    attributes: Attributes


class RankingOptions(Strict):
    """A search's `ranking_options` (the ranker is accepted; there is one ranking here)."""

    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0, le=1)


def _check_filter(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        try:
            check(value)
        except FilterError as exc:
            raise ValueError(str(exc)) from None
    return value


class Search(Strict):
    """`POST /vector_stores/{id}/search`."""

    query: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)]
    rewrite_query: bool = False
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: Annotated[dict[str, Any] | None, AfterValidator(_check_filter)] = None
    ranking_options: RankingOptions | None = None
