"""The typed async API that backend services use to run turns.

```python
loom = await Threadloom.connect()                      # settings from THREADLOOM_* variables
request = TurnRequest(thread_id=..., assistant_id=..., message=UserMessage(text="hi"))
result = await loom.run_turn(request)
```

A turn is idempotent on its key: starting the same `(thread_id, turn_key)` again, while it runs or
after it ended, returns the same workflow and so the same result, never a second turn. Failures are
raised as `starter.errors.TurnError` subclasses named after the failure type.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ApplicationError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.runtime import Runtime

from threadloom.starter.client_errors import translated
from threadloom.starter.encryption import data_converter
from threadloom.starter.errors import (
    InvalidRequest,
    TemporalUnavailable,
    TurnCancelled,
    TurnError,
    error_for,
)
from threadloom.starter.metrics import sdk_runtime
from threadloom.starter.settings import Settings
from threadloom.workflows.contracts import (
    ASSISTANT_ID,
    CONVERSATION_ID,
    DEFAULT_TASK_QUEUE,
    FORBID_UNKNOWN_FIELDS,
    THREAD_ID,
    TURN_WORKFLOW,
    TurnProgress,
    TurnRequest,
    TurnResult,
    turn_workflow_id,
)
from threadloom.workflows.outcomes import error_details

if TYPE_CHECKING:
    from threadloom.starter.stream_events import TurnEvent

PROGRESS_QUERY = "progress"


async def connect_client(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A Temporal client for `settings`, with the data converter every part shares.

    That is the pydantic data converter with the payload codec of `starter.encryption` (encrypting
    when the settings turn encryption on). `runtime` carries the SDK's telemetry (default:
    `starter.metrics.sdk_runtime`, which routes the SDK core's logs into this process's logging).

    Raises:
        TemporalUnavailable: Temporal could not be reached at `settings.temporal_address`.
        EncryptionKeyError: the key ring is malformed, or encryption is on without one.
    """
    converter = data_converter(settings)  # before connecting: a bad key ring fails at once
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            api_key=api_key,
            tls=settings.temporal_tls or api_key is not None,
            data_converter=converter,
            runtime=runtime or sdk_runtime(settings),
        )
    except RuntimeError as err:  # the SDK's connection failures are RuntimeErrors
        raise TemporalUnavailable(
            f"could not connect to Temporal at {settings.temporal_address}: {err}"
        ) from err


class TurnHandle:
    """A started turn: wait for its result, ask its progress, or cancel it."""

    def __init__(self, handle: WorkflowHandle[Any, TurnResult]) -> None:
        self._handle = handle

    @property
    def workflow_id(self) -> str:
        """The turn's workflow id, `turn-{thread_id}-{turn_key}`."""
        return self._handle.id

    async def result(self) -> TurnResult:
        """Wait for the reply.

        Raises:
            TurnError: a subclass named after the failure type (`RunTimedOut`, `ThreadBusy`, ...),
                or `TemporalUnavailable` when Temporal does not answer (wait again: it is safe).
        """
        try:
            with translated(self.workflow_id):
                return await self._handle.result()
        except WorkflowFailureError as err:
            raise turn_error(err, self.workflow_id) from err

    async def progress(self) -> TurnProgress:
        """The turn's phase, attempt and run id right now."""
        with translated(self.workflow_id):
            progress: TurnProgress = await self._handle.query(PROGRESS_QUERY, result_type=TurnProgress)
        return progress

    async def cancel(self) -> None:
        """Ask the turn to stop; it cancels its backend run before it ends."""
        with translated(self.workflow_id):
            await self._handle.cancel()


class Threadloom:
    """Starts turns on a Temporal cluster."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        settings: Settings | None = None,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.settings = settings  # where the Threads API is, for create_thread (default: env)
        chosen = settings or Settings()
        self.task_timeout = timedelta(seconds=chosen.turn_task_timeout_seconds)
        """The workflow task timeout of the turns it starts, a conversation's too: how long a
        worker lost mid-task holds a turn up (`THREADLOOM_TURN_TASK_TIMEOUT_SECONDS`)."""
        self.conversation_task_timeout = timedelta(seconds=chosen.conversation_task_timeout_seconds)
        """The workflow task timeout of the conversations it starts, which may replay long
        histories (`THREADLOOM_CONVERSATION_TASK_TIMEOUT_SECONDS`)."""

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> Threadloom:
        """Connect with `settings` (default: from the environment)."""
        settings = settings or Settings()
        return cls(await connect_client(settings), task_queue=settings.task_queue, settings=settings)

    async def create_thread(self, metadata: Mapping[str, str] | None = None) -> str:
        """Create an empty thread on the Threads API of the settings, for `run_turn`; returns its id.

        Raises:
            ThreadsUnavailable: the Threads API could not create it.
        """
        from threadloom.starter.threads_api import create_thread, threads_client

        async with threads_client(self.settings or Settings()) as client:
            return await create_thread(client, metadata)

    async def start_turn(self, request: TurnRequest | Mapping[str, Any]) -> TurnHandle:
        """Start the turn, or find it if this turn key was started before.

        Raises:
            InvalidRequest: the request breaks a rule (empty message, bad overrides, ...); nothing
                was started or written.
            TemporalUnavailable: Temporal did not answer; starting again with the same turn key
                never starts the turn twice (a request without a key got a random one: it is in
                the error's `workflow_id`, so give your requests keys of your own).
        """
        turn = validate_request(request)
        try:
            with translated(turn.workflow_id):
                handle = await self.client.start_workflow(
                    TURN_WORKFLOW,
                    turn,
                    id=turn.workflow_id,
                    task_queue=self.task_queue,
                    task_timeout=self.task_timeout,
                    result_type=TurnResult,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=_search_attributes(turn),
                    static_summary=turn.summary(),
                    static_details=turn.details(),
                )
        except WorkflowAlreadyStartedError:
            # The turn ran before and is closed: its result is the answer to this start too.
            handle = self.client.get_workflow_handle(turn.workflow_id, result_type=TurnResult)
        return TurnHandle(handle)

    async def run_turn(self, request: TurnRequest | Mapping[str, Any]) -> TurnResult:
        """Start the turn (or find it) and wait for its reply."""
        return await (await self.start_turn(request)).result()

    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        assistant_id: str,
        thread_id: str | None = None,
        turn_key: str | None = None,
        **overrides: Any,
    ) -> TurnResult:
        """Run one turn of conversation `conversation_id` (update-with-start) and return its reply.

        Turns of one conversation run one at a time, in arrival order, on its thread (a new one
        unless `thread_id` is given). The same `turn_key` returns the same result, never a second
        turn. `overrides`: `tools` (registered tool names), `policy`, `message_metadata`, `limits`
        (`ConversationLimits`, used when this call starts the conversation) and any `RunOverrides`
        field (`model`, `instructions`, ...).

        Raises:
            TurnError: a subclass named after the failure type, as for `run_turn`.
        """
        from threadloom.starter.conversations import send

        return await send(
            self,
            conversation_id,
            text,
            assistant_id=assistant_id,
            thread_id=thread_id,
            turn_key=turn_key,
            **overrides,
        )

    # --- streaming turns (issue 15): bodies in `starter.streaming` ---------------------------

    async def stream_turn(
        self, request: TurnRequest | Mapping[str, Any], *, after: int | None = None
    ) -> AsyncIterator[TurnEvent]:
        """Start the turn (or find it, by its key) and yield its events (`starter.stream_events`).

        Ends after `TurnFinished`, or raises the turn's `TurnError` subclass after the events that
        came before. `after`: only events with a higher offset (a reconnect).
        """
        from threadloom.starter.streaming import stream_events

        turn = validate_request(request)
        handle = await self.start_turn(turn)
        async for event in stream_events(self, handle.workflow_id, after=after, request=turn):
            yield event

    async def stream_events(
        self, workflow_id: str, *, after: int | None = None
    ) -> AsyncIterator[TurnEvent]:
        """(Re)attach to a running or finished turn and yield its events with offsets above `after`.

        Raises:
            StreamError: no such turn, or `after` is past the turn's last event.
            TurnError: the turn failed (after the events that came before).
        """
        from threadloom.starter.streaming import stream_events

        async for event in stream_events(self, workflow_id, after=after):
            yield event

    async def stream_send(
        self,
        conversation_id: str,
        text: str,
        *,
        assistant_id: str,
        thread_id: str | None = None,
        turn_key: str | None = None,
        **overrides: Any,
    ) -> AsyncIterator[TurnEvent]:
        """`send`, streamed: the conversation turn's events, ending with `TurnFinished`."""
        from threadloom.starter.streaming import stream_send

        async for event in stream_send(
            self,
            conversation_id,
            text,
            assistant_id=assistant_id,
            thread_id=thread_id,
            turn_key=turn_key,
            **overrides,
        ):
            yield event

    # -------------------------------------------------------------------------------------------

    def get_handle(
        self,
        workflow_id: str | None = None,
        *,
        thread_id: str | None = None,
        turn_key: str | None = None,
    ) -> TurnHandle:
        """A handle on an existing turn, by workflow id or by thread id and turn key."""
        if workflow_id is None:
            if thread_id is None or turn_key is None:
                raise ValueError("give workflow_id, or thread_id and turn_key")
            workflow_id = turn_workflow_id(thread_id, turn_key)
        return TurnHandle(self.client.get_workflow_handle(workflow_id, result_type=TurnResult))


def validate_request(request: TurnRequest | Mapping[str, Any]) -> TurnRequest:
    """Validate (again) before anything is written; rule breaks raise `InvalidRequest`."""
    data = dict(request.model_dump() if isinstance(request, TurnRequest) else request)
    if not data.get("turn_key"):  # made up here, once, before the start: never while decoding
        data["turn_key"] = uuid.uuid4().hex
    try:
        return TurnRequest.model_validate(data, context={FORBID_UNKNOWN_FIELDS: True})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in err.errors()
        )
        details = {"errors": err.errors(include_url=False, include_context=False)}
        raise InvalidRequest(f"invalid turn request: {problems}", details=details) from err


def turn_error(err: WorkflowFailureError, workflow_id: str | None = None) -> TurnError:
    """The typed exception for a failed turn workflow."""
    cause = err.cause
    if is_cancelled_exception(cause):
        return TurnCancelled("the turn was cancelled", workflow_id=workflow_id)
    if isinstance(cause, ApplicationError):
        details = error_details(cause)
        return error_for(cause.type, cause.message, details, workflow_id)
    return TurnError(str(cause or err), workflow_id=workflow_id)


def _search_attributes(turn: TurnRequest) -> TypedSearchAttributes:
    pairs = [
        SearchAttributePair(THREAD_ID, turn.thread_id),
        SearchAttributePair(ASSISTANT_ID, turn.assistant_id),
    ]
    if turn.conversation_id:
        pairs.append(SearchAttributePair(CONVERSATION_ID, turn.conversation_id))
    return TypedSearchAttributes(pairs)
