"""Conversations from the starter side: `send` a turn by update-with-start, `close` one.

```python
loom = await Threadloom.connect()
result = await loom.send("support-ticket-42", "Where is my order?", assistant_id="asst_…")
```

One call starts the conversation's workflow if it is not running (a new thread unless `thread_id`
is given, or the thread of its earlier runs) and delivers the turn as the `send_turn` update, whose
id is the turn key: resending with the same key returns the first result and runs nothing again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from threadloom.starter.client_errors import client_error, translated
from threadloom.starter.errors import (
    ConversationNotFound,
    ConversationRestarting,
    InvalidRequest,
    TurnError,
    error_for,
)
from threadloom.workflows.contracts import (
    ASSISTANT_ID,
    CONVERSATION_ID,
    THREAD_ID,
    RunOverrides,
    TurnPolicy,
    TurnResult,
    UserMessage,
)
from threadloom.workflows.conversation_contracts import (
    CLOSE_UPDATE,
    CONVERSATION_RESTARTING,
    CONVERSATION_WORKFLOW,
    SEND_TURN_UPDATE,
    CloseConversation,
    ConversationInput,
    ConversationLimits,
    ConversationStatus,
    SendTurn,
    conversation_workflow_id,
)
from threadloom.workflows.outcomes import error_details

if TYPE_CHECKING:
    from threadloom.starter.api import Threadloom

RESTART_WAIT_SECONDS = 900.0
"""How long `send` keeps resending a turn that a draining conversation run turned away: the run
finishes the turns it accepted first, and a default turn may take 3 runs of up to 300 s each."""
RESTART_DELAY_SECONDS = (0.2, 2.0)
"""First and longest pause between two sends of a turned-away turn."""
VALIDATION_TYPES = {"ValueError", "ValidationError", "TypeError"}


def build_turn(
    text: str,
    *,
    turn_key: str | None = None,
    tools: list[str] | None = None,
    policy: TurnPolicy | dict[str, Any] | None = None,
    message_metadata: dict[str, str] | None = None,
    **overrides: Any,
) -> SendTurn:
    """The `send_turn` update input; rule breaks raise `InvalidRequest` (nothing is sent)."""
    try:
        return SendTurn(
            turn_key=turn_key or uuid.uuid4().hex,
            message=UserMessage(text=text, metadata=message_metadata or {}),
            run=RunOverrides.model_validate(overrides),
            tools=tools or [],
            policy=TurnPolicy.model_validate(policy or {}),
        )
    except ValidationError as err:
        raise InvalidRequest(f"invalid turn: {err}") from err


async def send(
    loom: Threadloom,
    conversation_id: str,
    text: str,
    *,
    assistant_id: str,
    thread_id: str | None = None,
    turn_key: str | None = None,
    limits: ConversationLimits | None = None,
    **overrides: Any,
) -> TurnResult:
    """Run one turn of the conversation and return its result (see `Threadloom.send`)."""
    turn = build_turn(text, turn_key=turn_key, **overrides)
    try:
        start = ConversationInput(
            conversation_id=conversation_id,
            assistant_id=assistant_id,
            thread_id=thread_id,
            limits=limits or ConversationLimits(),
            turn_task_timeout_seconds=loom.task_timeout.total_seconds(),
        )
    except ValidationError as err:
        raise InvalidRequest(f"invalid conversation: {err}") from err
    workflow_id = conversation_workflow_id(conversation_id)
    delay, longest = RESTART_DELAY_SECONDS
    give_up_at = time.monotonic() + RESTART_WAIT_SECONDS
    while time.monotonic() < give_up_at:
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            CONVERSATION_WORKFLOW,
            start,
            id=workflow_id,
            task_queue=loom.task_queue,
            task_timeout=loom.conversation_task_timeout,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=_search_attributes(start),
            static_summary=f"conversation {conversation_id}",
        )
        try:
            with translated(workflow_id):
                result: TurnResult = await loom.client.execute_update_with_start_workflow(
                    SEND_TURN_UPDATE,
                    turn,
                    start_workflow_operation=operation,
                    id=turn.turn_key,
                    result_type=TurnResult,
                )
            return result
        except WorkflowUpdateFailedError as err:
            error = update_error(err, workflow_id)
            if error.type != CONVERSATION_RESTARTING:
                raise error from err
        finally:
            _settle(operation)
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, longest)
    raise ConversationRestarting(
        f"conversation {conversation_id} kept restarting for {RESTART_WAIT_SECONDS:g}s: send the "
        "turn again with the same key",
        workflow_id=workflow_id,
    )


def _settle(operation: WithStartWorkflowOperation[Any, Any]) -> None:
    """Mark the start operation's outcome as seen: when the call failed or was cancelled, the SDK
    leaves the error in the operation's handle future too, and asyncio prints an "exception was
    never retrieved" traceback for it when it is collected (past structlog). The call itself has
    raised the error already."""
    outcome = operation._workflow_handle  # private: the SDK offers only an awaiting accessor
    if outcome.done() and not outcome.cancelled():
        outcome.exception()


async def close(loom: Threadloom, conversation_id: str, reason: str = "") -> ConversationStatus:
    """Ask the conversation to end once its accepted turns are done.

    Raises:
        ConversationNotFound: the conversation is not running (ended, or never started).
    """
    workflow_id = conversation_workflow_id(conversation_id)
    handle = loom.client.get_workflow_handle(workflow_id)
    with translated(workflow_id, not_found=ConversationNotFound):
        status: ConversationStatus = await handle.execute_update(
            CLOSE_UPDATE, CloseConversation(reason=reason), result_type=ConversationStatus
        )
    return status


def update_error(err: WorkflowUpdateFailedError, workflow_id: str) -> TurnError:
    """The typed exception of a failed (or rejected) `send_turn` update."""
    known = client_error(err, workflow_id)  # an update the workflow's end aborted
    if known is not None:
        return known
    cause = err.cause
    if not isinstance(cause, ApplicationError):
        return TurnError(str(cause), workflow_id=workflow_id)
    if cause.type in VALIDATION_TYPES:
        return InvalidRequest(f"invalid turn: {cause.message}", workflow_id=workflow_id)
    details = error_details(cause)
    return error_for(cause.type, cause.message, details, workflow_id)


def _search_attributes(start: ConversationInput) -> TypedSearchAttributes:
    pairs = [
        SearchAttributePair(CONVERSATION_ID, start.conversation_id),
        SearchAttributePair(ASSISTANT_ID, start.assistant_id),
    ]
    if start.thread_id:
        pairs.append(SearchAttributePair(THREAD_ID, start.thread_id))
    return TypedSearchAttributes(pairs)
