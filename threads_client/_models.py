"""Shared pydantic models: the base class, tools, response formats, threads, assistants, errors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

__all__ = [
    "APIModel",
    "Assistant",
    "AssistantTool",
    "CodeInterpreterResources",
    "CodeInterpreterTool",
    "DeletionStatus",
    "ErrorObject",
    "FileSearchOptions",
    "FileSearchRankingOptions",
    "FileSearchResources",
    "FileSearchTool",
    "FunctionDefinition",
    "FunctionTool",
    "JSONSchemaFormat",
    "Metadata",
    "ResponseFormat",
    "ResponseFormatJSONObject",
    "ResponseFormatJSONSchema",
    "ResponseFormatText",
    "Thread",
    "ToolResources",
    "UnknownObject",
    "Usage",
    "type_discriminator",
]

Metadata = dict[str, str]
"""Up to 16 string pairs attached to an object."""


class APIModel(BaseModel):
    """Base of every API object: unknown fields are kept (``extra="allow"``), never rejected."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


class UnknownObject(APIModel):
    """A union member whose ``type`` this client does not know; all its fields are kept."""

    type: str


def type_discriminator(*known: str) -> Any:
    """Discriminate a union on its ``type`` field, sending unknown types to ``UnknownObject``.

    Members of the union are tagged with their ``type`` value and one member is tagged
    ``"unknown"``, so a new part or tool type from a newer server is tolerated, not an error.
    """
    names = frozenset(known)

    def tag(value: Any) -> str:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return kind if kind in names else "unknown"

    return Discriminator(tag)


class FunctionDefinition(APIModel):
    """A function the model may call: name, JSON-schema parameters, strict mode."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CodeInterpreterTool(APIModel):
    """The ``code_interpreter`` tool."""

    type: Literal["code_interpreter"] = "code_interpreter"


class FileSearchRankingOptions(APIModel):
    """Ranking options of the ``file_search`` tool."""

    ranker: str | None = None
    score_threshold: float


class FileSearchOptions(APIModel):
    """Options of the ``file_search`` tool."""

    max_num_results: int | None = None
    ranking_options: FileSearchRankingOptions | None = None


class FileSearchTool(APIModel):
    """The ``file_search`` tool."""

    type: Literal["file_search"] = "file_search"
    file_search: FileSearchOptions | None = None


class FunctionTool(APIModel):
    """A ``function`` tool."""

    type: Literal["function"] = "function"
    function: FunctionDefinition


AssistantTool = Annotated[
    Annotated[CodeInterpreterTool, Tag("code_interpreter")]
    | Annotated[FileSearchTool, Tag("file_search")]
    | Annotated[FunctionTool, Tag("function")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("code_interpreter", "file_search", "function"),
]
"""A tool of an assistant or run: code interpreter, file search or function."""


class ResponseFormatText(APIModel):
    """Plain-text responses."""

    type: Literal["text"] = "text"


class ResponseFormatJSONObject(APIModel):
    """JSON-mode responses."""

    type: Literal["json_object"] = "json_object"


class JSONSchemaFormat(APIModel):
    """The schema of a ``json_schema`` response format."""

    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatJSONSchema(APIModel):
    """Structured-output responses that follow a JSON schema."""

    type: Literal["json_schema"] = "json_schema"
    json_schema: JSONSchemaFormat


ResponseFormat = (
    Literal["auto"]
    | Annotated[
        Annotated[ResponseFormatText, Tag("text")]
        | Annotated[ResponseFormatJSONObject, Tag("json_object")]
        | Annotated[ResponseFormatJSONSchema, Tag("json_schema")]
        | Annotated[UnknownObject, Tag("unknown")],
        type_discriminator("text", "json_object", "json_schema"),
    ]
)
"""``"auto"`` or a response-format object."""


class Usage(APIModel):
    """Token usage of a run or run step."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CodeInterpreterResources(APIModel):
    """Files made available to the code interpreter."""

    file_ids: list[str] = Field(default_factory=list)


class FileSearchResources(APIModel):
    """Vector stores made available to file search."""

    vector_store_ids: list[str] = Field(default_factory=list)


class ToolResources(APIModel):
    """Resources of a thread's or assistant's tools."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class Thread(APIModel):
    """A thread: the conversation that messages and runs belong to."""

    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None


class Assistant(APIModel):
    """An assistant: model, instructions and tools that runs use."""

    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None = None
    description: str | None = None
    model: str
    instructions: str | None = None
    tools: list[AssistantTool] = Field(default_factory=list)
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: ResponseFormat | None = None


class DeletionStatus(APIModel):
    """The answer to a delete (``object``: ``thread.deleted``, ``thread.message.deleted``, …)."""

    id: str
    object: str
    deleted: bool


class ErrorObject(APIModel):
    """The API's error object (``{"error": {...}}`` envelope contents, ``error`` stream event)."""

    message: str
    type: str | None = None
    param: str | None = None
    code: str | None = None
