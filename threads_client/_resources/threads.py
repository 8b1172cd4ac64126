"""``/threads``: threads, create-thread-and-run, and the ``messages`` and ``runs`` under them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from pydantic import BaseModel

from threadloom.threads_client._models import DeletionStatus, Thread
from threadloom.threads_client._models_run import Run
from threadloom.threads_client._resources._base import Resource, body, path, stream_events
from threadloom.threads_client._resources._params import MessageParam, ThreadRunOptions
from threadloom.threads_client._resources.messages import Messages
from threadloom.threads_client._resources.runs import Runs
from threadloom.threads_client._streaming import StreamEvent

if TYPE_CHECKING:
    from threadloom.threads_client._client import ThreadsClient


class Threads(Resource):
    """Threads, and under them ``messages`` and ``runs``."""

    def __init__(self, client: ThreadsClient) -> None:
        super().__init__(client)
        self.messages = Messages(client)
        """The messages of a thread."""
        self.runs = Runs(client)
        """The runs of a thread."""

    async def create(
        self,
        *,
        messages: Sequence[MessageParam] | None = None,
        metadata: Mapping[str, str] | None = None,
        tool_resources: Mapping[str, Any] | BaseModel | None = None,
        idempotency_key: str | None = None,
    ) -> Thread:
        """Create a thread, optionally with initial messages.

        Args:
            messages: ``{"role": …, "content": …}`` messages to start the thread with.
            metadata: Up to 16 string pairs.
            tool_resources: Files and vector stores for the thread's tools.
            idempotency_key: Sent as ``Idempotency-Key``: a server that honours it creates one
                thread for any number of requests with the same key and body.
        """
        payload = body(messages=messages, metadata=metadata, tool_resources=tool_resources)
        return await self._client.request_model(
            Thread, "POST", "/threads", json=payload, idempotency_key=idempotency_key
        )

    async def retrieve(self, thread_id: str) -> Thread:
        """Read a thread."""
        return await self._client.request_model(Thread, "GET", path("threads", thread_id))

    async def update(
        self,
        thread_id: str,
        *,
        metadata: Mapping[str, str] | None = None,
        tool_resources: Mapping[str, Any] | BaseModel | None = None,
    ) -> Thread:
        """Replace a thread's metadata and/or tool resources (``None``: left unchanged)."""
        payload = body(metadata=metadata, tool_resources=tool_resources)
        return await self._client.request_model(Thread, "POST", path("threads", thread_id), json=payload)

    async def delete(self, thread_id: str) -> DeletionStatus:
        """Delete a thread."""
        return await self._client.request_model(DeletionStatus, "DELETE", path("threads", thread_id))

    async def create_and_run(
        self,
        *,
        assistant_id: str,
        thread: Mapping[str, Any] | None = None,
        **run_options: Unpack[ThreadRunOptions],
    ) -> Run:
        """Create a thread and start a run on it in one call.

        Args:
            assistant_id: The assistant to run.
            thread: The thread to create: ``{"messages": […], "metadata": {…}, …}``.
            **run_options: The options of ``runs.create`` (without ``additional_*``), plus
                ``tool_resources``.
        """
        payload = body(assistant_id=assistant_id, thread=thread, **run_options)
        return await self._client.request_model(Run, "POST", "/threads/runs", json=payload)

    def create_and_run_stream(
        self,
        *,
        assistant_id: str,
        thread: Mapping[str, Any] | None = None,
        **run_options: Unpack[ThreadRunOptions],
    ) -> AsyncIterator[StreamEvent]:
        """Create a thread and a run, streaming the events (starting with ``thread.created``)."""
        payload = body(assistant_id=assistant_id, thread=thread, **run_options)
        return stream_events(self._client, "/threads/runs", payload)
