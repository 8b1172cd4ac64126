"""Typed exceptions of the starter API: one per failure type of a turn (`ErrorType`).

```
TurnError
├── RunFailed, RunTimedOut, RunExpired, RunCancelled, RunRequiresAction
├── ThreadNotFound, AssistantNotFound, InvalidRequest, ThreadBusy, ToolFailed
├── ThreadsUnavailable
├── TurnCancelled            (the turn's workflow, or its conversation, was cancelled)
├── TemporalUnavailable      (Temporal did not answer: nothing is known of the turn)   resend_safe
├── TurnOutcomeUnknown       (the turn was sent, its answer did not arrive)             resend_safe
├── ConversationRestarting   (the conversation kept turning the turn away)             resend_safe
└── ConversationNotFound     (no such conversation is running, e.g. `close` after it ended)
```

`resend_safe` says whether sending the same turn again, with the same turn key, may still get the
turn's own answer: the failure was in reaching Temporal or in hearing back, not the turn's outcome.
A resend with the same key never runs the turn twice, so it is always harmless; where `resend_safe` is
False the turn has ended with this failure, and the same key gets the same failure back (send a new
key to try again).
"""

from __future__ import annotations

from typing import Any, ClassVar

from threadloom.workflows.contracts import ErrorType
from threadloom.workflows.conversation_contracts import CONVERSATION_RESTARTING, TURN_OUTCOME_UNKNOWN


class TurnError(Exception):
    """A turn that did not produce a reply.

    Attributes:
        message: what went wrong, as the engine reported it.
        type: the failure type name (an `ErrorType` value, or the raw type of an unknown failure).
        details: structured details (run id, status, error code, ...), when there are any.
        workflow_id: the turn's workflow id, when known.
    """

    error_type: ClassVar[str] = "TurnError"
    resend_safe: ClassVar[bool] = False
    """True when resending with the same turn key may still get the turn's answer."""

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


class TemporalUnavailable(TurnError):
    """Temporal could not be reached (or did not answer in time); the turn may not have started."""

    error_type = "TemporalUnavailable"
    resend_safe = True


class TurnOutcomeUnknown(TurnError):
    """The turn was delivered, but its answer was not heard: it may still be running."""

    error_type = TURN_OUTCOME_UNKNOWN
    resend_safe = True


class ConversationRestarting(TurnError):
    """The conversation kept closing or continuing as new while the turn was resent."""

    error_type = CONVERSATION_RESTARTING
    resend_safe = True


class ConversationNotFound(TurnError):
    """No such conversation is running (it ended idle, closed or cancelled, or never started)."""

    error_type = "ConversationNotFound"


ERRORS_BY_TYPE: dict[str, type[TurnError]] = {cls.error_type: cls for cls in TurnError.__subclasses__()}
assert set(ErrorType) <= set(ERRORS_BY_TYPE), "every ErrorType needs its exception"


def error_for(
    error_type: str | None, message: str, details: dict[str, Any], workflow_id: str | None
) -> TurnError:
    """The exception for a failure of type `error_type` (`TurnError` itself for unknown types)."""
    cls = ERRORS_BY_TYPE.get(error_type or "", TurnError)
    return cls(message, type=error_type, details=details, workflow_id=workflow_id)
