"""Run steps: message creation and tool-call details, and streamed run-step deltas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Tag

from threadloom.threads_client._models import (
    APIModel,
    Metadata,
    UnknownObject,
    Usage,
    type_discriminator,
)

__all__ = [
    "CodeInterpreterCall",
    "CodeInterpreterImage",
    "CodeInterpreterImageOutput",
    "CodeInterpreterLogsOutput",
    "CodeInterpreterOutput",
    "CodeInterpreterToolCall",
    "FileSearchToolCall",
    "FunctionToolCall",
    "FunctionToolCallDetails",
    "MessageCreation",
    "MessageCreationStepDetails",
    "RunStep",
    "RunStepDelta",
    "RunStepDeltaBody",
    "RunStepLastError",
    "StepDetails",
    "ToolCall",
    "ToolCallsStepDetails",
]


class CodeInterpreterLogsOutput(APIModel):
    """Text the code interpreter printed (``index`` is set in deltas)."""

    type: Literal["logs"] = "logs"
    index: int | None = None
    logs: str | None = None


class CodeInterpreterImage(APIModel):
    """An image file the code interpreter produced."""

    file_id: str | None = None


class CodeInterpreterImageOutput(APIModel):
    """An image the code interpreter produced (``index`` is set in deltas)."""

    type: Literal["image"] = "image"
    index: int | None = None
    image: CodeInterpreterImage | None = None


CodeInterpreterOutput = Annotated[
    Annotated[CodeInterpreterLogsOutput, Tag("logs")]
    | Annotated[CodeInterpreterImageOutput, Tag("image")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("logs", "image"),
]
"""An output of a code-interpreter call."""


class CodeInterpreterCall(APIModel):
    """The input and outputs of a code-interpreter call."""

    input: str | None = None
    outputs: list[CodeInterpreterOutput] | None = None


class CodeInterpreterToolCall(APIModel):
    """A code-interpreter call (all fields but ``type`` may be missing in deltas)."""

    type: Literal["code_interpreter"] = "code_interpreter"
    index: int | None = None
    id: str | None = None
    code_interpreter: CodeInterpreterCall | None = None


class FileSearchToolCall(APIModel):
    """A file-search call; ``file_search`` holds the ranking options and results."""

    type: Literal["file_search"] = "file_search"
    index: int | None = None
    id: str | None = None
    file_search: dict[str, Any] = Field(default_factory=dict)


class FunctionToolCallDetails(APIModel):
    """A function call's name, arguments and (once submitted) output."""

    name: str | None = None
    arguments: str | None = None
    output: str | None = None


class FunctionToolCall(APIModel):
    """A function call (all fields but ``type`` may be missing in deltas)."""

    type: Literal["function"] = "function"
    index: int | None = None
    id: str | None = None
    function: FunctionToolCallDetails | None = None


ToolCall = Annotated[
    Annotated[CodeInterpreterToolCall, Tag("code_interpreter")]
    | Annotated[FileSearchToolCall, Tag("file_search")]
    | Annotated[FunctionToolCall, Tag("function")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("code_interpreter", "file_search", "function"),
]
"""A tool call of a run step."""


class MessageCreation(APIModel):
    """The message a step created."""

    message_id: str | None = None


class MessageCreationStepDetails(APIModel):
    """Details of a ``message_creation`` step."""

    type: Literal["message_creation"] = "message_creation"
    message_creation: MessageCreation | None = None


class ToolCallsStepDetails(APIModel):
    """Details of a ``tool_calls`` step."""

    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[ToolCall] = Field(default_factory=list)


StepDetails = Annotated[
    Annotated[MessageCreationStepDetails, Tag("message_creation")]
    | Annotated[ToolCallsStepDetails, Tag("tool_calls")]
    | Annotated[UnknownObject, Tag("unknown")],
    type_discriminator("message_creation", "tool_calls"),
]
"""The details of a run step."""


class RunStepLastError(APIModel):
    """Why a step failed."""

    code: str
    message: str


class RunStep(APIModel):
    """A step of a run: creating a message or calling tools."""

    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str | None = None
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: Literal["in_progress", "cancelled", "failed", "completed", "expired"]
    step_details: StepDetails
    last_error: RunStepLastError | None = None
    expired_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    metadata: Metadata | None = None
    usage: Usage | None = None


class RunStepDeltaBody(APIModel):
    """What changed in a run step."""

    step_details: StepDetails | None = None


class RunStepDelta(APIModel):
    """A ``thread.run.step.delta`` event: the changed fields of step ``id``."""

    id: str
    object: Literal["thread.run.step.delta"] = "thread.run.step.delta"
    delta: RunStepDeltaBody
