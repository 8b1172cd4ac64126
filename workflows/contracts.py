"""The contract of a turn: what a caller sends (`TurnRequest`) and gets back (`TurnResult`).

Everything here crosses the Temporal boundary through `pydantic_data_converter`, so the models are
the shape of workflow history: add fields with defaults, never rename. Bad input is rejected by the
validators below, in the caller's process, before anything is written to Temporal or to the thread.

The engine tags what it writes with the turn key (`TURN_KEY_TAG`, plus `ATTEMPT_TAG` on runs); those
pairs count against the Threads API's limit of 16 metadata pairs, so callers get fewer.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from temporalio.common import SearchAttributeKey

DEFAULT_TASK_QUEUE = "threadloom"
"""Task queue that workers poll and starters use unless told otherwise."""
TURN_WORKFLOW = "TurnWorkflow"
"""Workflow type name of a turn (starters need no import of the workflow code)."""

THREAD_ID = SearchAttributeKey.for_keyword("ThreadId")
ASSISTANT_ID = SearchAttributeKey.for_keyword("AssistantId")
CONVERSATION_ID = SearchAttributeKey.for_keyword("ConversationId")
SEARCH_ATTRIBUTES = (THREAD_ID, ASSISTANT_ID, CONVERSATION_ID)
"""Search attribute keys every turn carries; the dev stack and the tests register them."""

TURN_KEY_TAG = "threadloom_turn"
"""Metadata key on the user message and on each run: the turn key that wrote it."""
ATTEMPT_TAG = "threadloom_attempt"
"""Metadata key on each run: its attempt number within the turn (1-based)."""
RESERVED_PREFIX = "threadloom_"

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_MESSAGE_CHARS = 256_000
MAX_TOOLS = 20
MIN_TOKEN_LIMIT = 256
SUMMARY_WORDS = 8


class ErrorType(StrEnum):
    """Failure types of a turn: the `type` of the `ApplicationError` that ends it.

    The starter maps each one to a Python exception of the same name (`starter.errors`).
    """

    RUN_FAILED = "RunFailed"
    RUN_TIMED_OUT = "RunTimedOut"
    RUN_EXPIRED = "RunExpired"
    RUN_CANCELLED = "RunCancelled"
    RUN_REQUIRES_ACTION = "RunRequiresAction"
    THREAD_NOT_FOUND = "ThreadNotFound"
    ASSISTANT_NOT_FOUND = "AssistantNotFound"
    INVALID_REQUEST = "InvalidRequest"
    THREAD_BUSY = "ThreadBusy"
    TOOL_FAILED = "ToolFailed"
    THREADS_UNAVAILABLE = "ThreadsUnavailable"


NON_RETRYABLE_ERROR_TYPES = [str(t) for t in ErrorType if t is not ErrorType.THREADS_UNAVAILABLE]

Metadata = dict[str, str]


def check_metadata(metadata: Metadata, *, reserved_pairs: int) -> Metadata:
    """Check caller metadata against the Threads API limits, leaving room for the engine's tags."""
    allowed = MAX_METADATA_PAIRS - reserved_pairs
    if len(metadata) > allowed:
        raise ValueError(f"at most {allowed} metadata pairs (the engine uses {reserved_pairs})")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_CHARS:
            raise ValueError(f"metadata key {key!r} must be 1-{MAX_METADATA_KEY_CHARS} characters")
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(f"metadata key {key!r}: the prefix {RESERVED_PREFIX!r} is reserved")
        if len(value) > MAX_METADATA_VALUE_CHARS:
            raise ValueError(f"metadata value of {key!r} is over {MAX_METADATA_VALUE_CHARS} chars")
    return metadata


FORBID_UNKNOWN_FIELDS = "forbid_unknown_fields"
"""Validation context key: the starter rejects fields no model declares (a typo is an error)."""


class _Model(BaseModel):
    """Frozen; unknown fields are an error where the starter validates a request (context
    `FORBID_UNKNOWN_FIELDS`) and ignored where a worker decodes one, so a newer starter's new
    field does not fail an older worker's workflow task while workers are redeployed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_fields(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context and info.context.get(FORBID_UNKNOWN_FIELDS):
            known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(unknown)}")
        return data


Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class UserMessage(_Model):
    """The user's message of a turn."""

    text: str = Field(max_length=MAX_MESSAGE_CHARS)
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the message is empty")
        return text

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, metadata: Metadata) -> Metadata:
        return check_metadata(metadata, reserved_pairs=1)


class RunOverrides(_Model):
    """Per-run options passed through to `runs.create`; `None` keeps the assistant's own setting."""

    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_TOOLS)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_prompt_tokens: int | None = Field(default=None, ge=MIN_TOKEN_LIMIT)
    max_completion_tokens: int | None = Field(default=None, ge=MIN_TOKEN_LIMIT)
    tool_choice: str | dict[str, Any] | None = None
    response_format: str | dict[str, Any] | None = None
    truncation_strategy: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, metadata: Metadata) -> Metadata:
        return check_metadata(metadata, reserved_pairs=2)


class PollSettings(_Model):
    """How `wait_for_run` watches a run."""

    initial_interval_ms: int = Field(default=50, ge=10)
    max_interval_ms: int = Field(default=1_000, ge=10)
    backoff_factor: float = Field(default=1.5, ge=1.0, le=10.0)
    long_poll_wait_ms: int = Field(default=20_000, ge=0, description="0 disables long-poll")
    first_read_wait_ms: int = Field(
        default=250,
        ge=0,
        le=5_000,
        description="how long the read right after creating the run may be held (long-poll) inside "
        "that local activity; a run that ends within it needs no wait activity. The local activity "
        "holds one of the worker's workflow task slots meanwhile, so this bounds how many turns a "
        "worker starts per second (10 slots / 0.25 s) when runs outlast it",
    )


class TurnPolicy(_Model):
    """Deadlines and retry limits of a turn."""

    run_deadline_seconds: float = Field(default=300.0, gt=0)
    max_run_attempts: int = Field(default=3, ge=1, le=10)
    thread_busy_wait_seconds: float = Field(default=30.0, ge=0)
    heartbeat_timeout_seconds: float = Field(
        default=3.0,
        ge=1,
        description="how long a waiting turn's worker may go without a heartbeat before another "
        "worker takes the wait over: most of the recovery from a killed worker (one heartbeat RPC "
        "per waiting turn every 0.8 x this)",
    )
    poll: PollSettings = Field(default_factory=PollSettings)
    max_tool_rounds: int = Field(default=8, ge=1, le=50, description="requires_action rounds per run")
    rate_limit_backoff_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="wait after a rate-limited run when the backend's Retry-After is shorter; it "
        "doubles with each rate-limited run in a row, up to 60 s",
    )
    turn_deadline_seconds: float | None = Field(
        default=None,
        gt=0,
        description="the whole turn, from its start: no run is waited on past it, and runs the model "
        "backend rate-limits are retried until it (default: max_run_attempts * run_deadline_seconds)",
    )


class TurnRequest(_Model):
    """One turn: post `message` to `thread_id`, run `assistant_id`, return the reply."""

    thread_id: Identifier
    assistant_id: Identifier
    message: UserMessage
    run: RunOverrides = Field(default_factory=RunOverrides)
    turn_key: Identifier | None = Field(
        default=None,
        max_length=64,
        description="idempotency key: one key is one turn, however often it is started. The Python "
        "starter fills in a random one before it starts the turn; a turn started elsewhere without "
        "one uses a key derived from its workflow id (never one made up while decoding: it would "
        "change on replay)",
    )
    policy: TurnPolicy = Field(default_factory=TurnPolicy)
    conversation_id: Identifier | None = None
    tools: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_TOOLS,
        description="names of tools registered in the worker: their definitions are added to the "
        "run, and the worker runs their calls; without any, `requires_action` fails the turn",
    )

    @model_validator(mode="after")
    def _poll_bounds(self) -> TurnRequest:
        poll = self.policy.poll
        if poll.max_interval_ms < poll.initial_interval_ms:
            raise ValueError("policy.poll.max_interval_ms is below initial_interval_ms")
        if len(self.tools) + len(self.run.tools or []) > MAX_TOOLS:
            raise ValueError(f"at most {MAX_TOOLS} tools on a run (tools and run.tools together)")
        if len(set(self.tools)) != len(self.tools):
            raise ValueError("tools: a name is given twice")
        return self

    @property
    def key(self) -> str:
        """The turn key, which a request has once the starter (or `keyed`) gave it one."""
        if self.turn_key is None:
            raise ValueError("this turn request has no turn key yet")
        return self.turn_key

    @property
    def workflow_id(self) -> str:
        """The id of this turn's workflow."""
        return turn_workflow_id(self.thread_id, self.key)

    def keyed(self, workflow_id: str) -> TurnRequest:
        """This request with its turn key: its own, else one derived from `workflow_id`."""
        if self.turn_key is not None:
            return self
        digest = hashlib.sha256(workflow_id.encode()).hexdigest()[:32]
        return self.model_copy(update={"turn_key": f"wf-{digest}"})

    def summary(self) -> str:
        """The first words of the message: the workflow's static summary in the UI."""
        words = self.message.text.split()
        text = " ".join(words[:SUMMARY_WORDS])
        return text + (" …" if len(words) > SUMMARY_WORDS else "")

    def details(self) -> str:
        """The workflow's static details in the UI: where it writes (never the message text)."""
        lines = [
            f"thread `{self.thread_id}`",
            f"assistant `{self.assistant_id}`",
            f"turn key `{self.turn_key}`",
        ]
        if self.conversation_id:
            lines.append(f"conversation `{self.conversation_id}`")
        return "\n".join(lines)


def turn_workflow_id(thread_id: str, turn_key: str) -> str:
    """The workflow id of the turn `turn_key` on `thread_id`."""
    return f"turn-{thread_id}-{turn_key}"


RunOutcome = Literal[
    "completed", "incomplete", "failed", "expired", "cancelled", "timed_out", "requires_action"
]


class RunAttempt(_Model):
    """One run the turn created, and how it ended."""

    attempt: int
    run_id: str
    outcome: RunOutcome
    error_code: str | None = None
    error_message: str | None = None
    started_at: datetime
    finished_at: datetime


class Usage(_Model):
    """Token usage of the run that produced the reply."""

    model_config = ConfigDict(frozen=True, extra="allow")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class TurnTimings(_Model):
    """When the turn started and ended (workflow time)."""

    started_at: datetime
    message_added_at: datetime
    run_completed_at: datetime
    finished_at: datetime


class TurnResult(_Model):
    """The assistant's reply to a turn."""

    reply: str
    content: list[dict[str, Any]] = Field(default_factory=list)
    reply_message_ids: list[str] = Field(default_factory=list)
    user_message_id: str
    run_id: str
    status: Literal["completed", "incomplete"]
    incomplete_reason: str | None = None
    usage: Usage | None = None
    attempts: list[RunAttempt]
    timings: TurnTimings


TurnPhase = Literal[
    "starting",
    "adding_message",
    "creating_run",
    "waiting",
    "calling_tools",
    "cancelling",
    "fetching_reply",
    "done",
]


class ProgressQuery(_Model):
    """Input of the `progress` query (no options yet)."""


class TurnProgress(_Model):
    """Answer of the `progress` query: where the turn is now."""

    phase: TurnPhase
    attempt: int = 0
    run_id: str | None = None
    user_message_id: str | None = None
