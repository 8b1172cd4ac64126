"""``/threads/{thread_id}/runs``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Unpack

from threadloom.threads_client._headers import int_header
from threadloom.threads_client._models_message import Message
from threadloom.threads_client._models_run import Run, RunPoll, RunStatus
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._polling import poll_run
from threadloom.threads_client._resources._base import Resource, body, path, stream_events
from threadloom.threads_client._resources._params import RunCreateOptions
from threadloom.threads_client._resources.steps import Steps
from threadloom.threads_client._streaming import StreamEvent

if TYPE_CHECKING:
    from threadloom.threads_client._client import ThreadsClient

POLL_AFTER_HEADER = "openai-poll-after-ms"
LONG_POLL_MAX_HEADER = "threadloom-long-poll-max-ms"
LONG_POLL_IF_STATUS_HEADER = "threadloom-long-poll-if-status"
RUN_MESSAGES_HEADER = "threadloom-run-messages"
RUN_MESSAGES_FIELD = "threadloom_messages"


class Runs(Resource):
    """The runs of a thread, and under them ``steps``."""

    def __init__(self, client: ThreadsClient) -> None:
        super().__init__(client)
        self.steps = Steps(client)
        """The steps of a run."""

    async def create(
        self,
        thread_id: str,
        *,
        assistant_id: str,
        idempotency_key: str | None = None,
        **options: Unpack[RunCreateOptions],
    ) -> Run:
        """Start a run of an assistant on a thread.

        Args:
            thread_id: The thread.
            assistant_id: The assistant to run.
            idempotency_key: Sent as ``Idempotency-Key``: a server that honours it starts one
                run for any number of requests with the same key and body.
            **options: ``model``, ``instructions``, ``additional_instructions``,
                ``additional_messages``, ``tools``, ``metadata``, ``temperature``, ``top_p``,
                ``max_prompt_tokens``, ``max_completion_tokens``, ``truncation_strategy``,
                ``tool_choice``, ``parallel_tool_calls``, ``response_format``,
                ``reasoning_effort``; ``None`` values are not sent.

        Raises:
            BadRequestError: Among others when the thread already has an active run.
        """
        route = path("threads", thread_id, "runs")
        payload = body(assistant_id=assistant_id, **options)
        return await self._client.request_model(
            Run, "POST", route, json=payload, idempotency_key=idempotency_key
        )

    def create_stream(
        self, thread_id: str, *, assistant_id: str, **options: Unpack[RunCreateOptions]
    ) -> AsyncIterator[StreamEvent]:
        """Start a run and stream its events (see :meth:`create` for the options).

        The request is sent when iteration starts; the stream ends with the ``done`` event,
        also after ``thread.run.requires_action``.
        """
        route = path("threads", thread_id, "runs")
        return stream_events(self._client, route, body(assistant_id=assistant_id, **options))

    async def retrieve(self, thread_id: str, run_id: str) -> Run:
        """Read a run."""
        return await self._client.request_model(Run, "GET", path("threads", thread_id, "runs", run_id))

    async def retrieve_for_poll(
        self,
        thread_id: str,
        run_id: str,
        *,
        wait_ms: int | None = None,
        if_status: RunStatus | Sequence[RunStatus] | None = None,
        messages: int | None = None,
    ) -> RunPoll:
        """Read a run together with the server's polling hints.

        Args:
            thread_id: The thread.
            run_id: The run.
            wait_ms: Ask a server that offers long-polling (``long_poll_max_ms`` set) to hold the
                answer until the run's status changes or this many milliseconds pass. Not sent
                when ``None``; other servers ignore it.
            if_status: With ``wait_ms``: hold while the status is this one, or any of these
                (only where ``several_statuses``; default on the server: the status when the
                request arrives). Not sent when ``None``.
            messages: Ask a server that offers it (``run_messages_max`` set) to send, beside a
                run that has ended, the thread's newest this-many messages (at most
                ``run_messages_max``). Not sent when ``None``; other servers ignore it.

        Returns:
            The run with ``poll_after_ms`` (``openai-poll-after-ms``), ``long_poll_max_ms``
            (``threadloom-long-poll-max-ms``) and ``run_messages_max``
            (``threadloom-run-messages``) read from the answer's headers, and the messages.
        """
        timeout = None if wait_ms is None else self._client.timeout + wait_ms / 1000.0
        response = await self._client.request(
            "GET",
            path("threads", thread_id, "runs", run_id),
            params={
                "wait_ms": wait_ms,
                "if_status": _statuses(if_status),
                RUN_MESSAGES_FIELD: messages,
            },
            timeout=timeout,
        )
        run, page = _run_and_messages(response.content, asked=messages is not None)
        poll = RunPoll(
            run=run,
            poll_after_ms=int_header(response.headers, POLL_AFTER_HEADER),
            long_poll_max_ms=int_header(response.headers, LONG_POLL_MAX_HEADER),
            several_statuses=response.headers.get(LONG_POLL_IF_STATUS_HEADER) == "several",
            run_messages_max=int_header(response.headers, RUN_MESSAGES_HEADER),
            messages=[Message.model_validate(m) for m in page["data"]] if "data" in page else None,
            messages_has_more=bool(page.get("has_more")),
        )
        self._client.long_poll_max_ms = poll.long_poll_max_ms
        self._client.long_poll_several_statuses = poll.several_statuses
        self._client.run_messages_max = poll.run_messages_max
        return poll

    def list(
        self,
        thread_id: str,
        *,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> AsyncPage[Run]:
        """List the runs of a thread (newest first unless ``order="asc"``).

        Returns:
            A page: ``await`` it for the first page, or ``async for`` over every run.
        """
        params = {"limit": limit, "order": order, "after": after, "before": before}
        return self._client.page(Run, path("threads", thread_id, "runs"), params)

    async def update(
        self, thread_id: str, run_id: str, *, metadata: Mapping[str, str] | None = None
    ) -> Run:
        """Replace a run's metadata."""
        route = path("threads", thread_id, "runs", run_id)
        return await self._client.request_model(Run, "POST", route, json=body(metadata=metadata))

    async def cancel(self, thread_id: str, run_id: str) -> Run:
        """Ask for an active run to be cancelled (it moves to ``cancelling``, then ``cancelled``).

        Raises:
            BadRequestError: When the run is already finished.
        """
        route = path("threads", thread_id, "runs", run_id, "cancel")
        return await self._client.request_model(Run, "POST", route)

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, *, tool_outputs: Sequence[Mapping[str, str]]
    ) -> Run:
        """Send the outputs of the tool calls a ``requires_action`` run waits for.

        Args:
            thread_id: The thread.
            run_id: The run.
            tool_outputs: ``{"tool_call_id": …, "output": …}`` for each tool call.

        Raises:
            BadRequestError: When the run is not waiting for tool outputs.
        """
        route = path("threads", thread_id, "runs", run_id, "submit_tool_outputs")
        payload = body(tool_outputs=tool_outputs)
        return await self._client.request_model(Run, "POST", route, json=payload)

    def submit_tool_outputs_stream(
        self, thread_id: str, run_id: str, *, tool_outputs: Sequence[Mapping[str, str]]
    ) -> AsyncIterator[StreamEvent]:
        """Send tool outputs and stream the events of the resumed run."""
        route = path("threads", thread_id, "runs", run_id, "submit_tool_outputs")
        return stream_events(self._client, route, body(tool_outputs=tool_outputs))

    async def poll(
        self,
        thread_id: str,
        run_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - an overall deadline, not one call's
        poll_interval_ms: int | None = None,
    ) -> Run:
        """Wait until a run needs action or is terminal.

        Uses the server's long-poll when it advertises one; otherwise polls, waiting the
        server's ``openai-poll-after-ms`` when given, else ``poll_interval_ms``, else an
        adaptive interval (100 ms growing to 1 s).

        Args:
            thread_id: The thread.
            run_id: The run.
            timeout: Overall deadline in seconds; ``None`` waits without a deadline.
            poll_interval_ms: Fixed interval when the server suggests none.

        Returns:
            The run at ``requires_action`` or a terminal status (``completed``, ``incomplete``,
            ``failed``, ``cancelled``, ``expired``).

        Raises:
            PollTimeoutError: Past ``timeout``; carries the last run seen.
        """
        return await poll_run(
            self.retrieve_for_poll,
            thread_id,
            run_id,
            timeout=timeout,
            poll_interval_ms=poll_interval_ms,
        )


def _run_and_messages(content: bytes, *, asked: bool) -> tuple[Run, dict[str, Any]]:
    """The run of a GET answer, and the messages page beside it (empty unless asked and sent)."""
    if not asked:
        return Run.model_validate_json(content), {}
    payload = json.loads(content)
    page = payload.pop(RUN_MESSAGES_FIELD, None) if isinstance(payload, dict) else None
    return Run.model_validate(payload), page if isinstance(page, dict) else {}


def _statuses(if_status: RunStatus | Sequence[RunStatus] | None) -> str | None:
    if if_status is None or isinstance(if_status, str):
        return if_status
    return ",".join(if_status)
