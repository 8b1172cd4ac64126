"""The Temporal client's exceptions, translated once into the starter's `TurnError` tree.

A backend calling `run_turn`, `send` or `close` sees only `TurnError` subclasses (`starter.errors`),
each saying through `resend_safe` whether the same turn key may still get the turn's answer:

- `RPCError` UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED (and a failed connect) → `TemporalUnavailable`
- `RPCError` NOT_FOUND → `not_found` (`ConversationNotFound` for `close`)
- an update whose RPC timed out, or that the workflow's end aborted → `TurnOutcomeUnknown`
- any other `RPCError` → `TurnError`, with its status in `details`
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from threadloom.starter.errors import TemporalUnavailable, TurnError, TurnOutcomeUnknown

UNAVAILABLE_CODES = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
)
UPDATE_ABORTED_TYPE = "AcceptedUpdateCompletedWorkflow"
"""Failure type the server gives an accepted update whose workflow ended before it finished."""


def client_error(
    err: Exception, workflow_id: str | None, *, not_found: type[TurnError] = TurnError
) -> TurnError | None:
    """The `TurnError` for a Temporal client exception; None if `err` is none of those."""
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return TurnOutcomeUnknown(
            "the turn was sent but its answer did not arrive in time: send it again with the same "
            "turn key to get it",
            workflow_id=workflow_id,
        )
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == UPDATE_ABORTED_TYPE:
            return TurnOutcomeUnknown(
                f"the conversation's run ended before the turn's answer: {cause.message}; send it "
                "again with the same turn key",
                workflow_id=workflow_id,
            )
        return None
    if isinstance(err, RPCError):
        details = {"rpc_status": err.status.name}
        if err.status in UNAVAILABLE_CODES:
            return TemporalUnavailable(
                f"Temporal did not answer ({err.status.name}: {err.message})",
                details=details,
                workflow_id=workflow_id,
            )
        if err.status == RPCStatusCode.NOT_FOUND:
            return not_found(err.message, details=details, workflow_id=workflow_id)
        return TurnError(
            f"Temporal refused the call ({err.status.name}: {err.message})",
            details=details,
            workflow_id=workflow_id,
        )
    return None


@contextmanager
def translated(workflow_id: str | None, *, not_found: type[TurnError] = TurnError) -> Iterator[None]:
    """Raise Temporal client exceptions of the block as their `TurnError`s.

    An update call cancelled by its caller (a timeout around it, a task group giving up) stays a
    cancellation: the SDK reports it as `WorkflowUpdateRPCTimeoutOrCancelledError`, which would turn
    `asyncio.timeout` and `wait_for` into a `TurnOutcomeUnknown` and swallow the cancel request.
    """
    try:
        yield
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        if isinstance(err.__cause__, asyncio.CancelledError):
            raise err.__cause__ from None
        error = client_error(err, workflow_id, not_found=not_found)
        assert error is not None  # every such error has its TurnError
        raise error from err
    except (RPCError, WorkflowUpdateFailedError) as err:
        error = client_error(err, workflow_id, not_found=not_found)
        if error is None:
            raise
        raise error from err
