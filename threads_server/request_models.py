"""Request bodies, strict: unknown fields, wrong types and out-of-range values are rejected (400).

The shapes follow the spec excerpt's `Create*Request` / `Modify*Request` schemas, which all say
`additionalProperties: false`; tools, tool resources and response formats live in `request_tools`.
Limits that are settings (message and instruction sizes, messages per thread) are read from the
validation context, the server's `ServerSettings` (see `request_body.read_body`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from threadloom.threads_server.request_tools import (
    NonEmpty,
    ResponseFormat,
    Strict,
    Tool,
    ToolChoice,
    ToolResources,
    ToolResourcesCreate,
    limit,
)

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


def _check_chars(value: str | None, info: ValidationInfo, setting: str) -> str | None:
    most = limit(info, setting)
    if value is not None and len(value) > most:
        raise ValueError(f"at most {most} characters are allowed, got {len(value)}")
    return value


def _instructions(value: str | None, info: ValidationInfo) -> str | None:
    return _check_chars(value, info, "max_instructions_chars")


Instructions = Annotated[str | None, AfterValidator(_instructions)]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


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

    @field_validator("content")
    @classmethod
    def _bounded(cls, content: str | list[Any], info: ValidationInfo) -> str | list[Any]:
        """The text of a message (all its text parts) is at most `max_message_chars`."""
        if isinstance(content, str):
            text = content
        else:
            text = "".join(part.text for part in content if isinstance(part, TextPart))
        _check_chars(text, info, "max_message_chars")
        return content


def _room(messages: list[CreateMessage] | None, info: ValidationInfo) -> list[CreateMessage] | None:
    most = limit(info, "max_messages_per_thread")
    if messages is not None and len(messages) > most:
        raise ValueError(f"a thread holds at most {most} messages, got {len(messages)}")
    return messages


Messages = Annotated[list[CreateMessage] | None, AfterValidator(_room)]


class Truncation(Strict):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


Temperature = Annotated[float, Field(ge=0, le=2)]
TopP = Annotated[float, Field(ge=0, le=1)]
TokenLimit = Annotated[int, Field(ge=256)]


class CreateThread(Strict):
    """`CreateThreadRequest`."""

    messages: Messages = None
    tool_resources: ToolResourcesCreate | None = None
    metadata: Metadata = None


class ModifyThread(Strict):
    """`ModifyThreadRequest`."""

    tool_resources: ToolResources | None = None
    metadata: Metadata = None


class ModifyMetadata(Strict):
    """`ModifyMessageRequest` / `ModifyRunRequest`."""

    metadata: Metadata = None


class RunOptions(Strict):
    """The fields shared by create run and create thread-and-run."""

    assistant_id: NonEmpty
    model: str | None = None
    instructions: Instructions = None
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

    reasoning_effort: ReasoningEffort | None = None
    additional_instructions: Instructions = None
    additional_messages: Messages = None


class CreateThreadAndRun(RunOptions):
    """`CreateThreadAndRunRequest`."""

    thread: CreateThread | None = None
    tool_resources: ToolResourcesCreate | None = None


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
    instructions: Instructions = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: ReasoningEffort | None = None


class CreateAssistant(AssistantFields):
    """Create assistant: `model` is required; `tool_resources` may use the `vector_stores` helper."""

    model: NonEmpty
    tool_resources: ToolResourcesCreate | None = None
