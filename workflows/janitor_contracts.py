"""The contract of the thread janitor: `JanitorWorkflow`'s input and result, and its activities'.

A thread is *idle* when no workflow that names it in its `ThreadId` search attribute is running or
closed after the cutoff (`now - retention`), and the Threads API shows nothing on it (thread, last
run, last message) created after the cutoff either. The janitor deletes idle threads; a thread whose
only open workflow is a conversation waiting for its next turn has that conversation closed first.
Like every contract module, these models are workflow history: add fields with defaults only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

JANITOR_WORKFLOW = "JanitorWorkflow"
"""Workflow type name of one janitor pass (what the schedule starts)."""
DEFAULT_SCHEDULE_ID = "threadloom-janitor"
"""Schedule id `threadloom janitor` installs unless told otherwise."""
PROGRESS_QUERY = "progress"

Verdict = Literal["deleted", "would_delete", "gone", "busy", "recent", "failed"]
"""What a pass did with one thread: deleted it (or would, in a dry run), found it gone already,
left it alone because a turn or conversation is open on it (`busy`) or it was used after the cutoff
(`recent`), or could not tell (`failed`: Temporal or the Threads API kept failing)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JanitorCounts(_Model):
    """How many threads a pass found and what it did with them."""

    checked: int = 0
    deleted: int = 0
    would_delete: int = 0
    gone: int = 0
    busy: int = 0
    recent: int = 0
    failed: int = 0
    conversations_closed: int = 0
    batches: int = 0

    def add(self, verdict: Verdict, *, closed_conversation: bool = False) -> JanitorCounts:
        """These counts with one more thread that ended `verdict`."""
        update = {"checked": self.checked + 1, verdict: getattr(self, verdict) + 1}
        if closed_conversation:
            update["conversations_closed"] = self.conversations_closed + 1
        return self.model_copy(update=update)

    def line(self, *, dry_run: bool = False) -> str:
        """The counts as one line: the UI's current details and the CLI's output."""
        acted = f"{self.would_delete} would be deleted" if dry_run else f"{self.deleted} deleted"
        return (
            f"{self.checked} checked · {acted} · {self.gone} already gone · {self.busy} busy · "
            f"{self.recent} recent · {self.failed} failed · "
            f"{self.conversations_closed} conversations closed"
        )


class JanitorInput(_Model):
    """One pass: delete threads idle for longer than `retention_seconds`."""

    retention_seconds: float = Field(gt=0, description="a thread idle this long is deleted")
    task_queue: str = Field(
        min_length=1, description="only threads of workflows on this task queue (this deployment)"
    )
    batch_size: int = Field(default=50, ge=1, le=500, description="threads checked at once")
    dry_run: bool = Field(default=False, description="only count what would be deleted")
    now: datetime | None = Field(
        default=None, description="the pass's 'now' (default: the workflow's start time)"
    )
    max_batches_per_run: int = Field(
        default=20, ge=1, le=1_000, description="batches before the pass continues as new"
    )
    # Carried across continue-as-new by the workflow itself:
    cutoff: datetime | None = None
    page_token: str | None = Field(default=None, description="base64 visibility page token")
    counts: JanitorCounts = Field(default_factory=JanitorCounts)

    @field_validator("now", "cutoff")
    @classmethod
    def _aware(cls, moment: datetime | None) -> datetime | None:
        """A time without a zone is UTC (the visibility queries compare UTC times)."""
        return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


class JanitorResult(_Model):
    """What a pass did: its cutoff and counts."""

    cutoff: datetime
    dry_run: bool
    counts: JanitorCounts


class JanitorProgress(_Model):
    """Answer of the `progress` query: the counts so far."""

    cutoff: datetime | None = None
    dry_run: bool = False
    counts: JanitorCounts = Field(default_factory=JanitorCounts)
    done: bool = False


class FindThreadsInput(_Model):
    """One page of visibility: closed threadloom workflows of `task_queue` closed before `cutoff`."""

    task_queue: str
    cutoff: datetime
    page_size: int
    page_token: str | None = None


class FindThreadsOutput(_Model):
    """The distinct thread ids of that page, and the token of the next one (None: last page)."""

    thread_ids: list[str] = Field(default_factory=list)
    next_page_token: str | None = None


class RetireThreadInput(_Model):
    """Check one thread and, unless `dry_run`, close its idle conversation and delete it."""

    thread_id: str
    cutoff: datetime
    dry_run: bool = False


class RetireThreadOutput(_Model):
    verdict: Verdict
    closed_conversation: bool = False
    reason: str = ""
