"""Typed exceptions of the starter API: one per failure type of a turn (`ErrorType`).

```
TurnError
├── RunFailed, RunTimedOut, RunExpired, RunCancelled, RunRequiresAction
├── ThreadNotFound, AssistantNotFound, InvalidRequest, ThreadBusy, ToolFailed
├── ThreadsUnavailable
└── TurnCancelled            (the turn's workflow was cancelled)
```
"""

from __future__ import annotations

from typing import Any, ClassVar

from workflows.contracts import ErrorType


class TurnError(Exception):
    """A turn that did not produce a reply.

    Attributes:
        message: what went wrong, as the engine reported it.
        type: the failure type name (an `ErrorType` value, or the raw type of an unknown failure).
        details: structured details (run id, status, error code, ...), when there are any.
        workflow_id: the turn's workflow id, when known.
    """

    error_type: ClassVar[str] = "TurnError"

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        details: dict[str, Any] | None = None,
        workflow_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or self.error_type
        self.details = details or {}
        self.workflow_id = workflow_id


class RunFailed(TurnError):
    error_type = ErrorType.RUN_FAILED


class RunTimedOut(TurnError):
    error_type = ErrorType.RUN_TIMED_OUT


class RunExpired(TurnError):
    error_type = ErrorType.RUN_EXPIRED


class RunCancelled(TurnError):
    error_type = ErrorType.RUN_CANCELLED


class RunRequiresAction(TurnError):
    error_type = ErrorType.RUN_REQUIRES_ACTION


class ThreadNotFound(TurnError):
    error_type = ErrorType.THREAD_NOT_FOUND


class AssistantNotFound(TurnError):
    error_type = ErrorType.ASSISTANT_NOT_FOUND


class InvalidRequest(TurnError, ValueError):
    error_type = ErrorType.INVALID_REQUEST


class ThreadBusy(TurnError):
    error_type = ErrorType.THREAD_BUSY


class ToolFailed(TurnError):
    error_type = ErrorType.TOOL_FAILED


class ThreadsUnavailable(TurnError):
    error_type = ErrorType.THREADS_UNAVAILABLE


class TurnCancelled(TurnError):
    error_type = "TurnCancelled"


ERRORS_BY_TYPE: dict[str, type[TurnError]] = {cls.error_type: cls for cls in TurnError.__subclasses__()}
assert set(ErrorType) <= set(ERRORS_BY_TYPE), "every ErrorType needs its exception"


def error_for(
    error_type: str | None, message: str, details: dict[str, Any], workflow_id: str | None
) -> TurnError:
    """The exception for a failure of type `error_type` (`TurnError` itself for unknown types)."""
    cls = ERRORS_BY_TYPE.get(error_type or "", TurnError)
    return cls(message, type=error_type, details=details, workflow_id=workflow_id)
