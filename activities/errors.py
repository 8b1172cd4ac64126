"""The one place where Threads API errors become Temporal failures.

```
ThreadsError (threads_client)            ApplicationError (what Temporal sees)
├── APIConnectionError / APITimeoutError → ThreadsUnavailable, retryable
└── APIStatusError
    ├── RateLimitError 429               → ThreadsUnavailable, retryable after Retry-After
    ├── InternalServerError 5xx          → ThreadsUnavailable, retryable after Retry-After
    ├── 408 / 409                        → ThreadsUnavailable, retryable
    ├── NotFoundError 404                → ThreadNotFound | AssistantNotFound, non-retryable
    └── any other 4xx                    → InvalidRequest, non-retryable
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from threadloom.threads_client import (
    APIConnectionError,
    APIStatusError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ThreadsError,
)
from threadloom.workflows.contracts import ErrorType

_BUSY_RUN = re.compile(r"\b(run_[A-Za-z0-9]+)\b")
_RETRYABLE_STATUSES = frozenset({408, 409})


def busy_run_id(err: ThreadsError) -> str | None:
    """The id of the run that locks the thread, if `err` is the Threads API's thread-lock error."""
    if not isinstance(err, BadRequestError) or "active" not in err.message:
        return None
    match = _BUSY_RUN.search(err.message)
    return match.group(1) if match else None


def to_application_error(err: ThreadsError, *, not_found: ErrorType | None = None) -> ApplicationError:
    """Translate a Threads API error.

    Args:
        err: the client's error.
        not_found: what a 404 means for this call; by default it is read from the error message
            (an assistant if the message names one, else the thread).
    """
    if isinstance(err, RateLimitError | InternalServerError):
        delay = timedelta(seconds=err.retry_after) if err.retry_after else None
        return _transient(err, next_retry_delay=delay)
    if isinstance(err, APIConnectionError):
        return _transient(err)
    if isinstance(err, APIStatusError):
        if err.status_code in _RETRYABLE_STATUSES:
            return _transient(err)
        if isinstance(err, NotFoundError):
            error_type = not_found or (
                ErrorType.ASSISTANT_NOT_FOUND
                if "assistant" in err.message.lower()
                else ErrorType.THREAD_NOT_FOUND
            )
        else:
            error_type = ErrorType.INVALID_REQUEST
        return ApplicationError(
            f"{err.status_code}: {err.message}",
            {"status_code": err.status_code, "code": err.code, "param": err.param},
            type=error_type,
            non_retryable=True,
        )
    return _transient(err)


def _transient(err: ThreadsError, *, next_retry_delay: timedelta | None = None) -> ApplicationError:
    return ApplicationError(
        f"{type(err).__name__}: {err}",
        type=ErrorType.THREADS_UNAVAILABLE,
        next_retry_delay=next_retry_delay,
    )


@contextmanager
def translated(*, not_found: ErrorType | None = None) -> Iterator[None]:
    """Raise any `ThreadsError` from the block as the matching `ApplicationError`."""
    try:
        yield
    except ThreadsError as err:
        raise to_application_error(err, not_found=not_found) from err
