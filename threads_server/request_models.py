"""Request bodies, strict: unknown fields, wrong types and out-of-range values are rejected (400).

The shapes follow the spec excerpt's `Create*Request` / `Modify*Request` schemas, which all say
`additionalProperties: false`. `read_body` parses a request into one of these models.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from threads_server.errors import APIError
from threads_server.storage_rows import ListQuery

M = TypeVar("M", bound=BaseModel)

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > MAX_METADATA_PAIRS:
        raise ValueError(f"at most {MAX_METADATA_PAIRS} key-value pairs are allowed")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise ValueError(f"keys can be at most {MAX_METADATA_KEY} characters long")
        if len(item) > MAX_METADATA_VALUE:
            raise ValueError(f"values can be at most {MAX_METADATA_VALUE} characters long")
    return value


Metadata = Annotated[dict[str, str] | None, AfterValidator(_check_metadata)]
NonEmpty = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    """Base of request models: no unknown fields, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Open(BaseModel):
    """Nested objects the server stores as given (tool resources, JSON schemas)."""

    model_config = ConfigDict(extra="allow", strict=True)


class TextPart(Strict):
    type: Literal["text"]
    text: NonEmpty


class ImageURL(Strict):
    url: NonEmpty
    detail: Literal["auto", "low", "high"] | None = None


class ImageURLPart(Strict):
    type: Literal["image_url"]
    image_url: ImageURL


class ImageFile(Strict):
    file_id: NonEmpty
    detail: Literal["auto", "low", "high"] | None = None


class ImageFilePart(Strict):
    type: Literal["image_file"]
    image_file: ImageFile


ContentPart = Annotated[TextPart | ImageURLPart | ImageFilePart, Field(discriminator="type")]


class AttachmentTool(Strict):
    type: Literal["code_interpreter", "file_search"]


class Attachment(Strict):
    file_id: NonEmpty
    tools: list[AttachmentTool]


class CreateMessage(Strict):
    """`CreateMessageRequest`."""

    role: Literal["user", "assistant"]
    content: NonEmpty | Annotated[list[ContentPart], Field(min_length=1)]
    attachments: list[Attachment] | None = None
    metadata: Metadata = None


class FunctionDef(Strict):
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(Strict):
    type: Literal["function"]
    function: FunctionDef


class CodeInterpreterTool(Strict):
    type: Literal["code_interpreter"]


class FileSearchTool(Strict):
    type: Literal["file_search"]
    file_search: Open | None = None


Tool = Annotated[FunctionTool | CodeInterpreterTool | FileSearchTool, Field(discriminator="type")]


class Truncation(Strict):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


class NamedFunction(Strict):
    name: NonEmpty


class NamedToolChoice(Strict):
    type: Literal["function", "code_interpreter", "file_search"]
    function: NamedFunction | None = None


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice
ResponseFormat = Literal["auto"] | Open
Temperature = Annotated[float, Field(ge=0, le=2)]
TopP = Annotated[float, Field(ge=0, le=1)]
TokenLimit = Annotated[int, Field(ge=256)]


class CreateThread(Strict):
    """`CreateThreadRequest`."""

    messages: list[CreateMessage] | None = None
    tool_resources: Open | None = None
    metadata: Metadata = None


class ModifyThread(Strict):
    """`ModifyThreadRequest`."""

    tool_resources: Open | None = None
    metadata: Metadata = None


class ModifyMetadata(Strict):
    """`ModifyMessageRequest` / `ModifyRunRequest`."""

    metadata: Metadata = None


class RunOptions(Strict):
    """The fields shared by create run and create thread-and-run."""

    assistant_id: NonEmpty
    model: str | None = None
    instructions: str | None = None
    tools: Annotated[list[Tool], Field(max_length=20)] | None = None
    metadata: Metadata = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stream: bool | None = None
    max_prompt_tokens: TokenLimit | None = None
    max_completion_tokens: TokenLimit | None = None
    truncation_strategy: Truncation | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


class CreateRun(RunOptions):
    """`CreateRunRequest`."""

    reasoning_effort: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[CreateMessage] | None = None


class CreateThreadAndRun(RunOptions):
    """`CreateThreadAndRunRequest`."""

    thread: CreateThread | None = None
    tool_resources: Open | None = None


class ToolOutput(Strict):
    tool_call_id: NonEmpty
    output: str


class SubmitToolOutputs(Strict):
    """`SubmitToolOutputsRunRequest`."""

    tool_outputs: Annotated[list[ToolOutput], Field(min_length=1)]
    stream: bool | None = None


class AssistantFields(Strict):
    """Fields of an assistant, all optional (modify)."""

    model: NonEmpty | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Annotated[str, Field(max_length=256_000)] | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_resources: Open | None = None
    metadata: Metadata = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None


class CreateAssistant(AssistantFields):
    """Create assistant: `model` is required."""

    model: NonEmpty


async def read_body(request: Request, model: type[M], *, allow_empty: bool = False) -> M:
    """Parse the JSON body of `request` into `model`; errors become a 400 `APIError`."""
    raw = await request.body()
    if not raw.strip():
        if not allow_empty:
            raise APIError("The request body must be a JSON object.")
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise APIError(
                "We could not parse the JSON body of your request. "
                f"The API expects a JSON payload ({exc.__class__.__name__})."
            ) from None
    if not isinstance(data, dict):
        raise APIError("The request body must be a JSON object.")
    return model.model_validate(data)


def dump(model: BaseModel) -> dict[str, Any]:
    """The fields the caller actually sent, as plain JSON values."""
    return model.model_dump(mode="json", exclude_unset=True)


async def list_query(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query()] = None,
    before: Annotated[str | None, Query()] = None,
) -> ListQuery:
    """FastAPI dependency: the list parameters every list endpoint takes (async: no thread hop)."""
    return ListQuery(limit=limit, order=order, after=after, before=before)
