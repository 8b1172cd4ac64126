"""Timeouts and retry policies of the turn's activities, stated once per kind of call.

Temporal owns every retry (the HTTP client runs with `max_retries=0`): transient errors retry with
backoff, or after the server's `Retry-After` when the activity passes it as `next_retry_delay`; the
engine's own failure types never retry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy

from threadloom.workflows.contracts import NON_RETRYABLE_ERROR_TYPES, TurnPolicy

HTTP_CALL_SECONDS = 40.0
"""Longest single Threads API exchange of an activity attempt (client timeout plus margin)."""
TRANSIENT_RETRY_WINDOW = timedelta(minutes=2)
"""How long a short call keeps retrying a Threads API that answers 5xx/429 or not at all."""


class ActivityOptions(TypedDict):
    """Keyword options of `execute_activity_method` / `execute_local_activity_method`."""

    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy


class WaitOptions(ActivityOptions):
    """`ActivityOptions` plus the heartbeat timeout of a long activity."""

    heartbeat_timeout: timedelta


def _retry(maximum_interval: float = 10.0, maximum_attempts: int = 0) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=maximum_interval),
        maximum_attempts=maximum_attempts,
        non_retryable_error_types=NON_RETRYABLE_ERROR_TYPES,
    )


def write_options(policy: TurnPolicy) -> ActivityOptions:
    """`add_message` / `create_run`: one attempt may wait out a busy thread."""
    attempt = timedelta(seconds=HTTP_CALL_SECONDS + policy.thread_busy_wait_seconds)
    return ActivityOptions(
        start_to_close_timeout=attempt,
        schedule_to_close_timeout=attempt + TRANSIENT_RETRY_WINDOW,
        retry_policy=_retry(),
    )


def read_options() -> ActivityOptions:
    """`fetch_reply`: a few short reads."""
    return ActivityOptions(
        start_to_close_timeout=timedelta(seconds=HTTP_CALL_SECONDS),
        schedule_to_close_timeout=TRANSIENT_RETRY_WINDOW,
        retry_policy=_retry(),
    )


def cancel_options() -> ActivityOptions:
    """`cancel_run`: best effort, so a bounded number of attempts."""
    return ActivityOptions(
        start_to_close_timeout=timedelta(seconds=HTTP_CALL_SECONDS),
        schedule_to_close_timeout=timedelta(minutes=1),
        retry_policy=_retry(maximum_interval=5.0, maximum_attempts=5),
    )


def wait_options(policy: TurnPolicy, remaining: timedelta) -> WaitOptions:
    """`wait_for_run`: bounded by the run's deadline, so a retry after a crash keeps the same one.

    The grace beyond the deadline lets a retried attempt (after a dead worker's heartbeat timeout)
    still report the passed deadline itself instead of timing out.
    """
    heartbeat = timedelta(seconds=policy.heartbeat_timeout_seconds)
    grace = heartbeat + timedelta(seconds=HTTP_CALL_SECONDS)
    total = max(remaining, timedelta(0)) + grace
    return WaitOptions(
        start_to_close_timeout=total,
        schedule_to_close_timeout=total,
        heartbeat_timeout=heartbeat,
        retry_policy=_retry(maximum_interval=5.0),
    )


EARLIER_TURN_HEARTBEAT = timedelta(seconds=30)
"""Heartbeat timeout of waiting for another run's turn: long, since the wait is only a held RPC."""


def earlier_turn_options(policy: TurnPolicy) -> WaitOptions:
    """`turn_result`: wait for a turn started earlier, for as long as that turn may take."""
    run = policy.run_deadline_seconds + policy.thread_busy_wait_seconds + HTTP_CALL_SECONDS * 3
    longest = timedelta(seconds=policy.max_run_attempts * run) + TRANSIENT_RETRY_WINDOW
    return WaitOptions(
        start_to_close_timeout=longest,
        schedule_to_close_timeout=longest,
        heartbeat_timeout=EARLIER_TURN_HEARTBEAT,
        retry_policy=_retry(),
    )
