"""The contract of a conversation: `ConversationWorkflow`'s input, its `send_turn` update, its result.

One conversation id is one workflow (`conversation-{id}`) owning one thread. Each turn arrives as the
`send_turn` update whose update id is the turn key; the same key sent again returns the first answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadloom.workflows.contracts import (
    MAX_TOOLS,
    Identifier,
    RunOverrides,
    TurnPolicy,
    TurnResult,
    UserMessage,
)

CONVERSATION_WORKFLOW = "ConversationWorkflow"
SEND_TURN_UPDATE = "send_turn"
CLOSE_UPDATE = "close"
STATUS_QUERY = "status"
CONVERSATION_RESTARTING = "ConversationRestarting"
"""Rejection type of a turn sent while the conversation closes or continues as new: send it again."""
MAX_REMEMBERED_BYTES = 1_000_000
"""Most JSON bytes of turn records carried across continue-as-new (Temporal refuses payloads over 2 MB);
a resent turn the next run does not remember is answered from its turn workflow instead."""
TURN_OUTCOME_UNKNOWN = "TurnOutcomeUnknown"
"""Failure type of a turn whose outcome could not be learned (it may still complete): send it again."""
MAX_UPDATES_PER_RUN = 1_800
"""Turns accepted by one run before new ones are turned away to the next run (Temporal's cap: 2,000).
It lives here, in a module passed through the sandbox, so that a test can lower it for the worker."""
CONVERSATION_TAG = "threadloom_conversation"
"""Metadata key on a thread the conversation created: its conversation id."""


def conversation_workflow_id(conversation_id: str) -> str:
    """The workflow id of conversation `conversation_id`."""
    return f"conversation-{conversation_id}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConversationLimits(_Model):
    """When a conversation run continues as new, and when it ends."""

    max_turns_per_run: int = Field(default=200, ge=1, le=1_500)
    max_history_events: int = Field(default=10_000, ge=100, le=40_000)
    idle_timeout_seconds: float = Field(default=3_600.0, gt=0)
    remembered_turns: int = Field(
        default=64,
        ge=0,
        le=1_000,
        description="turn results carried across continue-as-new (at most MAX_REMEMBERED_BYTES)",
    )


class SendTurn(_Model):
    """Input of the `send_turn` update: one turn of the conversation (update id = `turn_key`)."""

    turn_key: Identifier = Field(max_length=64)
    message: UserMessage
    run: RunOverrides = Field(default_factory=RunOverrides)
    tools: list[Identifier] = Field(default_factory=list, max_length=MAX_TOOLS)
    policy: TurnPolicy = Field(default_factory=TurnPolicy)


class TurnRecord(_Model):
    """How a finished turn ended: its result, or its failure's type, message and details."""

    turn_key: str
    result: TurnResult | None = None
    error_type: str | None = None
    error_message: str = ""
    error_details: dict[str, Any] = Field(default_factory=dict)


class ConversationInput(_Model):
    """Start (or continue as new) the conversation; the carried fields are the engine's."""

    conversation_id: Identifier
    assistant_id: Identifier
    thread_id: Identifier | None = Field(default=None, description="omit to get a new thread")
    limits: ConversationLimits = Field(default_factory=ConversationLimits)
    turn_task_timeout_seconds: float | None = Field(
        default=None,
        ge=1,
        le=60,
        description="workflow task timeout of the turns it runs (None: the conversation's own, "
        "as conversations started before this field had)",
    )
    turns_completed: int = 0
    recent: list[TurnRecord] = Field(default_factory=list)


class CloseConversation(_Model):
    """Input of the `close` update: end the conversation once the queued turns are done."""

    reason: str = Field(default="", max_length=500)


class StatusQuery(_Model):
    """Input of the `status` query."""


class ConversationStatus(_Model):
    """Answer of the `status` query, and of `close`."""

    conversation_id: str
    thread_id: str | None
    turns_completed: int
    queued: int
    closing: bool = False


class ConversationSummary(_Model):
    """The workflow's result when it ends (idle or closed)."""

    conversation_id: str
    thread_id: str | None
    turns_completed: int
    ended: Literal["idle", "closed"]


class OpenThreadInput(_Model):
    """Find the thread an earlier run of this conversation used, or create one."""

    conversation_id: str
    workflow_id: str
    current_run_id: str


class OpenThreadOutput(_Model):
    thread_id: str
    created: bool


class TurnResultInput(_Model):
    """Read the result of a turn workflow that ran before (a resend after the map forgot it)."""

    workflow_id: str
