"""Runs: status, required action, errors, limits, tool choice, and the poll answer."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadloom.threads_client._models import (
    APIModel,
    AssistantTool,
    Metadata,
    ResponseFormat,
    Usage,
)
from threadloom.threads_client._models_message import Message

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "TERMINAL_RUN_STATUSES",
    "FunctionCall",
    "IncompleteDetails",
    "LastError",
    "NamedToolChoice",
    "NamedToolChoiceFunction",
    "RequiredAction",
    "RequiredActionToolCall",
    "Run",
    "RunPoll",
    "RunStatus",
    "SubmitToolOutputs",
    "ToolChoice",
    "TruncationStrategy",
]

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
"""The status of a run."""

ACTIVE_RUN_STATUSES: Final[frozenset[RunStatus]] = frozenset(
    {"queued", "in_progress", "requires_action", "cancelling"}
)
"""Statuses in which a run locks its thread."""

TERMINAL_RUN_STATUSES: Final[frozenset[RunStatus]] = frozenset(
    {"completed", "incomplete", "failed", "cancelled", "expired"}
)
"""Statuses a run never leaves."""


class FunctionCall(APIModel):
    """The function the assistant wants called, with JSON-encoded arguments."""

    name: str
    arguments: str


class RequiredActionToolCall(APIModel):
    """A function call whose output the run waits for."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SubmitToolOutputs(APIModel):
    """The tool calls a ``requires_action`` run waits for."""

    tool_calls: list[RequiredActionToolCall] = Field(default_factory=list)


class RequiredAction(APIModel):
    """What a ``requires_action`` run needs: tool outputs."""

    type: Literal["submit_tool_outputs"] = "submit_tool_outputs"
    submit_tool_outputs: SubmitToolOutputs


class LastError(APIModel):
    """Why a run failed: ``server_error``, ``rate_limit_exceeded`` or ``invalid_prompt``."""

    code: str
    message: str


class IncompleteDetails(APIModel):
    """Why a run ended ``incomplete``: ``max_prompt_tokens`` or ``max_completion_tokens``."""

    reason: str | None = None


class TruncationStrategy(APIModel):
    """How the thread is truncated before a run: ``auto`` or the ``last_messages`` n."""

    type: Literal["auto", "last_messages"]
    last_messages: int | None = None


class NamedToolChoiceFunction(APIModel):
    """The function a named tool choice forces."""

    name: str


class NamedToolChoice(APIModel):
    """Forces the model to use one tool."""

    type: Literal["function", "code_interpreter", "file_search"]
    function: NamedToolChoiceFunction | None = None


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice
"""``none``, ``auto``, ``required`` or a named tool."""


class Run(APIModel):
    """A run: one execution of an assistant on a thread."""

    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    required_action: RequiredAction | None = None
    last_error: LastError | None = None
    expires_at: int | None = None
    started_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    incomplete_details: IncompleteDetails | None = None
    model: str | None = None
    # Typed string in the spec, but real runs answer null.
    instructions: str | None = None
    tools: list[AssistantTool] = Field(default_factory=list)
    metadata: Metadata | None = None
    usage: Usage | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True
    response_format: ResponseFormat | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the run reached a status it never leaves."""
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def tool_calls(self) -> list[RequiredActionToolCall]:
        """The tool calls a ``requires_action`` run waits for (empty otherwise)."""
        if self.required_action is None:
            return []
        return list(self.required_action.submit_tool_outputs.tool_calls)


class RunPoll(BaseModel):
    """A run as read for polling, with the server's polling hints.

    Attributes:
        run: The run.
        poll_after_ms: The ``openai-poll-after-ms`` header: the server's suggested delay before
            the next poll, if any.
        long_poll_max_ms: The ``threadloom-long-poll-max-ms`` header: the longest ``wait_ms`` the
            server grants, if it offers long-polling.
        several_statuses: The ``threadloom-long-poll-if-status: several`` header: ``if_status``
            may name several statuses (older servers take one).
        run_messages_max: The ``threadloom-run-messages`` header: the most messages the server
            sends beside a run that has ended, when asked (``messages`` of ``retrieve_for_poll``).
        messages: Those messages, newest first (one page of the message list), when asked for
            and the run has ended on a server that offers them; ``None`` otherwise.
        messages_has_more: Whether older messages follow that page.
    """

    model_config = ConfigDict(frozen=True)

    run: Run
    poll_after_ms: int | None = None
    long_poll_max_ms: int | None = None
    several_statuses: bool = False
    run_messages_max: int | None = None
    messages: list[Message] | None = None
    messages_has_more: bool = False
