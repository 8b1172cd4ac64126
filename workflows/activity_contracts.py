"""Inputs and outputs of the turn's activities: one model in, one model out, for each of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from threadloom.workflows.contracts import PollSettings, RunOverrides, Usage, UserMessage
from threadloom.workflows.tool_contracts import ToolCall


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _TurnScoped(_Model):
    """What every write needs to find its own earlier attempt instead of writing twice."""

    thread_id: str
    turn_key: str
    not_before: int = Field(
        description="Unix seconds: objects created earlier cannot belong to this turn (scan bound)"
    )
    thread_busy_wait_seconds: float


class AddMessageInput(_TurnScoped):
    """Post the turn's user message (or adopt the one an earlier attempt posted)."""

    assistant_id: str
    message: UserMessage


class AddMessageOutput(_Model):
    message_id: str
    adopted: bool = False


class CreateRunInput(_TurnScoped):
    """Create run number `attempt` of the turn (or adopt the one an earlier attempt created)."""

    assistant_id: str
    attempt: int
    run: RunOverrides


class CreateRunOutput(_Model):
    run_id: str
    status: str
    adopted: bool = False


class WaitForRunInput(_Model):
    """Watch a run until it needs action, ends, or `deadline` passes."""

    thread_id: str
    run_id: str
    deadline: datetime
    poll: PollSettings


class RunSnapshot(_Model):
    """The run as `wait_for_run` last saw it."""

    run_id: str
    status: str
    deadline_passed: bool = False
    error_code: str | None = None
    error_message: str | None = None
    incomplete_reason: str | None = None
    retry_after_seconds: float | None = Field(
        default=None, description="a rate-limited run's wait before the next (server's `last_error`)"
    )
    usage: Usage | None = None
    polls: int = 0
    tool_calls: list[ToolCall] = Field(default_factory=list)


class CancelRunInput(_Model):
    """Cancel a run if it is still active, and wait a little for it to leave `cancelling`.

    Without `run_id` (the turn was cancelled while creating it) the run is looked up by its tags:
    `turn_key`, `attempt`, created no earlier than `not_before`.
    """

    thread_id: str
    run_id: str | None
    turn_key: str
    attempt: int
    not_before: int
    settle_seconds: float = 10.0


class CancelRunOutput(_Model):
    """The run's status after cancelling, and the run itself when it was found."""

    status: str
    run: RunSnapshot | None = None


class FetchReplyInput(_Model):
    """Read the messages a run wrote."""

    thread_id: str
    run_id: str


class FetchReplyOutput(_Model):
    text: str
    content: list[dict[str, Any]] = Field(default_factory=list)
    message_ids: list[str] = Field(default_factory=list)
