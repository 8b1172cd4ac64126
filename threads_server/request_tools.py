"""Tools, tool resources, tool choice and response formats of request bodies, as the spec defines them.

Every nested object is closed (`extra="forbid"`), so what is stored and echoed back is spec-valid: the
only free-form JSON a client can store is a function's `parameters` and a response format's `schema`
(both JSON Schema objects), and those are bounded by `max_tool_chars` (encoded size).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.wire_json import encode_text

NonEmpty = Annotated[str, Field(min_length=1)]
Name64 = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


class Strict(BaseModel):
    """Base of request models: no unknown fields, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


def limit(info: ValidationInfo, name: str) -> int:
    """The limit `name` of the server validating this request (the default outside a request)."""
    settings = info.context
    if isinstance(settings, ServerSettings):
        return int(getattr(settings, name))
    return int(ServerSettings.model_fields[name].default)


def check_schema_size(model: BaseModel, info: ValidationInfo) -> None:
    """ValueError when the model, as stored, is over `max_tool_chars` characters."""
    most = limit(info, "max_tool_chars")
    size = len(encode_text(model.model_dump(mode="json", exclude_unset=True)))
    if size > most:
        raise ValueError(f"at most {most} characters of JSON are allowed here, got {size}")


class FunctionDef(Strict):
    name: Name64
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _bounded(self, info: ValidationInfo) -> FunctionDef:
        check_schema_size(self, info)
        return self


class FunctionTool(Strict):
    type: Literal["function"]
    function: FunctionDef


class CodeInterpreterTool(Strict):
    type: Literal["code_interpreter"]


class RankingOptions(Strict):
    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: Annotated[float, Field(ge=0, le=1)]


class FileSearchOptions(Strict):
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: RankingOptions | None = None


class FileSearchTool(Strict):
    type: Literal["file_search"]
    file_search: FileSearchOptions | None = None


Tool = Annotated[FunctionTool | CodeInterpreterTool | FileSearchTool, Field(discriminator="type")]


class CodeInterpreterResources(Strict):
    file_ids: Annotated[list[NonEmpty], Field(max_length=20)] | None = None


class FileSearchResources(Strict):
    vector_store_ids: Annotated[list[NonEmpty], Field(max_length=1)] | None = None


class ToolResources(Strict):
    """`tool_resources` of modify requests (assistants, threads): store ids only."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


# -- the `vector_stores` helper of create requests (file_search.vector_stores) -----------------


class AutoChunking(Strict):
    type: Literal["auto"]


class StaticChunkingOptions(Strict):
    max_chunk_size_tokens: Annotated[int, Field(ge=100, le=4096)]
    chunk_overlap_tokens: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _half(self) -> StaticChunkingOptions:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise ValueError("chunk_overlap_tokens must not exceed half of max_chunk_size_tokens")
        return self


class StaticChunking(Strict):
    type: Literal["static"]
    static: StaticChunkingOptions


ChunkingStrategy = Annotated[AutoChunking | StaticChunking, Field(discriminator="type")]


class VectorStoreHelper(Strict):
    """Create a vector store from `file_ids` and attach it (`file_search.vector_stores[]`)."""

    file_ids: Annotated[list[NonEmpty], Field(max_length=10_000)] | None = None
    chunking_strategy: ChunkingStrategy | None = None
    metadata: dict[str, str] | None = None


class FileSearchResourcesCreate(FileSearchResources):
    vector_stores: Annotated[list[VectorStoreHelper], Field(max_length=1)] | None = None

    @model_validator(mode="after")
    def _one_store(self) -> FileSearchResourcesCreate:
        if self.vector_store_ids and self.vector_stores:
            raise ValueError("give vector_store_ids or vector_stores, not both (at most 1 store)")
        return self


class ToolResourcesCreate(ToolResources):
    """`tool_resources` of create requests: store ids, or the `vector_stores` helper."""

    file_search: FileSearchResourcesCreate | None = None


class NamedFunction(Strict):
    name: NonEmpty


class NamedToolChoice(Strict):
    type: Literal["function", "code_interpreter", "file_search"]
    function: NamedFunction | None = None


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class TextFormat(Strict):
    type: Literal["text"]


class JsonObjectFormat(Strict):
    type: Literal["json_object"]


class JsonSchemaDef(Strict):
    name: Name64
    description: str | None = None
    # `schema` shadows a BaseModel attribute, hence the alias.
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    @model_validator(mode="after")
    def _bounded(self, info: ValidationInfo) -> JsonSchemaDef:
        check_schema_size(self, info)
        return self


class JsonSchemaFormat(Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaDef


ResponseFormat = (
    Literal["auto"]
    | Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]
)
