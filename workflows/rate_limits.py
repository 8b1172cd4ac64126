"""How a turn waits out a rate-limited model: the backend's `Retry-After`, with backoff, within the
turn's deadline.

A run that fails `rate_limit_exceeded` says nothing wrong about the turn: the model backend was
busy. So since `RATE_LIMIT_BACKOFF_PATCH` such runs do not use up `max_run_attempts`; the turn
waits and starts another run for as long as its deadline allows. Each wait is at least the
`Retry-After` the server carried in `last_error.retry_after_seconds`, and at least a backoff that
starts at `TurnPolicy.rate_limit_backoff_seconds` and doubles with each rate-limited run in a row
(a backend without `Retry-After`, or one that keeps refusing, is not hammered), plus up to a
quarter of jitter from the workflow's deterministic random, so many turns refused at once do not
all come back in the same instant. A wait that would end past the turn's deadline is not started:
the turn fails `RunFailed` with the rate limit as its cause.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from threadloom.workflows.activity_contracts import RunSnapshot
from threadloom.workflows.contracts import TurnPolicy
from threadloom.workflows.outcomes import failure_for

RATE_LIMIT_BACKOFF_PATCH = "rate-limit-backoff-within-deadline"
"""Since this patch rate-limited runs do not count against `max_run_attempts`, waits back off, and
the turn's deadline bounds them (before it: at most `max_run_attempts` runs, the bare Retry-After)."""
BACKOFF_LONGEST_SECONDS = 60.0
JITTER = 0.25
MAX_RATE_LIMITED_RUNS = 50
"""Rate-limited runs one turn makes at most, whatever its deadline (bounds its history)."""


def turn_deadline(policy: TurnPolicy, started_at: datetime) -> datetime:
    """When the turn stops trying: `turn_deadline_seconds` after its start, by default the time of
    `max_run_attempts` whole runs."""
    seconds = policy.turn_deadline_seconds
    if seconds is None:
        seconds = policy.max_run_attempts * policy.run_deadline_seconds
    return started_at + timedelta(seconds=seconds)


def is_rate_limited(snapshot: RunSnapshot) -> bool:
    """Whether the run failed because the model backend rate-limited it."""
    return snapshot.status == "failed" and snapshot.error_code == "rate_limit_exceeded"


def backoff_seconds(policy: TurnPolicy, snapshot: RunSnapshot, in_a_row: int, jitter: float) -> float:
    """The wait after the `in_a_row`-th rate-limited run in a row; `jitter` is in [0, 1)."""
    first = policy.rate_limit_backoff_seconds
    backoff = min(first * 2.0 ** (in_a_row - 1), BACKOFF_LONGEST_SECONDS)
    return max(snapshot.retry_after_seconds or 0.0, backoff) * (1 + JITTER * jitter)


async def wait_out(
    policy: TurnPolicy, snapshot: RunSnapshot, in_a_row: int, deadline: datetime, *, runs: int
) -> None:
    """Wait before the next run on a durable timer, or fail the turn if that passes `deadline`.

    Raises:
        ApplicationError: `RunFailed` naming the rate limit, when the wait would end past the
            deadline or the turn made `MAX_RATE_LIMITED_RUNS` rate-limited runs already.
    """
    wait = backoff_seconds(policy, snapshot, in_a_row, workflow.random().random())
    left = (deadline - workflow.now()).total_seconds()
    if wait >= left or in_a_row >= MAX_RATE_LIMITED_RUNS:
        raise _deadline_failure(snapshot, runs=runs, wait=wait, left=left)
    workflow.set_current_details(
        f"rate limited ({in_a_row} in a row) · next run in {wait:.1f}s · {left:.0f}s left"
    )
    await workflow.sleep(wait, summary=f"rate limited: wait {wait:.1f}s")


def _deadline_failure(snapshot: RunSnapshot, *, runs: int, wait: float, left: float) -> ApplicationError:
    failure = failure_for("failed", snapshot, attempts=runs)
    why = (
        f"; the turn's deadline passes in {max(left, 0):.0f}s, before the next try in {wait:.1f}s"
        if wait >= left
        else f"; {MAX_RATE_LIMITED_RUNS} rate-limited runs"
    )
    return ApplicationError(
        failure.message + why, *failure.details, type=failure.type, non_retryable=True
    )
