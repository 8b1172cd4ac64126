"""How a run ended, whether that is worth another run, and the typed failure that ends a turn.

Every failure of a turn is an `ApplicationError` with `non_retryable=True` whose `type` is an
`ErrorType`, raised from the workflow itself, so callers see the cause one level down and never a
chain of activity wrappers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from threadloom.workflows.activity_contracts import RunSnapshot
from threadloom.workflows.contracts import ErrorType, RunOutcome

RETRYABLE_ERROR_CODES = frozenset({"server_error", "rate_limit_exceeded"})


def error_details(error: ApplicationError) -> dict[str, Any]:
    """The dict a turn failure carries as its first detail (`{}` when it has none)."""
    first = error.details[0] if error.details else None
    return first if isinstance(first, dict) else {}


_OUTCOME_BY_STATUS: dict[str, RunOutcome] = {
    "completed": "completed",
    "incomplete": "incomplete",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
    "requires_action": "requires_action",
}

_FAILURE_BY_OUTCOME: dict[RunOutcome, ErrorType] = {
    "failed": ErrorType.RUN_FAILED,
    "expired": ErrorType.RUN_EXPIRED,
    "cancelled": ErrorType.RUN_CANCELLED,
    "timed_out": ErrorType.RUN_TIMED_OUT,
    "requires_action": ErrorType.RUN_REQUIRES_ACTION,
}


def classify(snapshot: RunSnapshot) -> RunOutcome:
    """The outcome of a run as `wait_for_run` left it; an active run past its deadline timed out."""
    return _OUTCOME_BY_STATUS.get(snapshot.status, "timed_out")


def retryable(outcome: RunOutcome, error_code: str | None) -> bool:
    """Whether a new run may succeed where this one did not."""
    if outcome == "failed":
        return error_code in RETRYABLE_ERROR_CODES
    return outcome in ("timed_out", "expired")


def failure_for(outcome: RunOutcome, snapshot: RunSnapshot, *, attempts: int) -> ApplicationError:
    """The typed, non-retryable failure that ends a turn whose last run ended with `outcome`."""
    error_type = _FAILURE_BY_OUTCOME[outcome]
    if outcome == "requires_action":
        text = (
            f"run {snapshot.run_id} still requires action "
            "(the turn registered no tools for its calls, or it ran out of tool rounds)"
        )
    elif outcome == "timed_out":
        text = f"run {snapshot.run_id} did not finish before its deadline"
    else:
        text = f"run {snapshot.run_id} ended {outcome}"
    if snapshot.error_code or snapshot.error_message:
        text += f": {snapshot.error_code or 'error'}: {snapshot.error_message or ''}".rstrip(": ")
    if attempts > 1:
        text += f" (after {attempts} runs)"
    return ApplicationError(
        text,
        {"run_id": snapshot.run_id, "status": snapshot.status, "error_code": snapshot.error_code},
        type=error_type,
        non_retryable=True,
    )


@contextmanager
def turn_failure(*, passthrough_timeouts: bool = False) -> Iterator[None]:
    """Turn a failed activity into the turn's own typed failure.

    A cancellation passes through untouched (the workflow is being cancelled), and so does a timeout
    when the caller handles it (`passthrough_timeouts`).
    """
    try:
        yield
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, TimeoutError) and passthrough_timeouts:
            raise
        if isinstance(cause, ApplicationError):
            error_type = cause.type or ErrorType.THREADS_UNAVAILABLE
            raise ApplicationError(
                cause.message, *cause.details, type=error_type, non_retryable=True
            ) from err
        if isinstance(cause, TimeoutError):
            last = cause.cause
            reason = f": {last}" if last is not None else ""
            raise ApplicationError(
                f"the Threads API did not answer in time{reason}",
                type=ErrorType.THREADS_UNAVAILABLE,
                non_retryable=True,
            ) from err
        raise
