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
    """Create run number `attempt` of the turn (or adopt the one an earlier attempt created).

    With `message`, the user message is posted with the run (`additional_messages`, tagged with the
    turn key): one write, so a retry that adopts the run adopts its message too. With
    `first_read_wait_ms`, the run is read once right after (held up to that long where the server
    long-polls), and the answer comes back as `run`: a run that ended there needs no wait activity.
    """

    assistant_id: str
    attempt: int
    run: RunOverrides
    message: UserMessage | None = None
    first_read_wait_ms: int | None = None


class FetchReplyOutput(_Model):
    text: str
    content: list[dict[str, Any]] = Field(default_factory=list)
    message_ids: list[str] = Field(default_factory=list)
    user_message_id: str | None = Field(
        default=None, description="the turn's user message, when the reply was found beside it"
    )


class WaitForRunInput(_Model):
    """Watch a run until it needs action, ends, or `deadline` passes."""

    thread_id: str
    run_id: str
    deadline: datetime
    poll: PollSettings
    reply_turn_key: str | None = Field(
        default=None,
        description="ask for the reply with the final read (where the server sends the thread's "
        "newest messages with it) and find the turn's user message by this key among them",
    )


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
    reply: FetchReplyOutput | None = Field(
        default=None, description="the reply, when the read that saw the run end carried it"
    )


class CreateRunOutput(_Model):
    run_id: str
    status: str
    adopted: bool = False
    run: RunSnapshot | None = Field(
        default=None, description="the first read of the run (`first_read_wait_ms`), if asked for"
    )


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
    """Read the messages a run wrote.

    With `turn_key`, the thread is read newest first (back to `not_before`) until the user message
    tagged with it, which also gives that message's id (it was posted with the run).
    """

    thread_id: str
    run_id: str
    turn_key: str | None = None
    not_before: int | None = None
