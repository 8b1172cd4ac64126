"""``/threads/{thread_id}/messages``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from threadloom.threads_client._models import DeletionStatus
from threadloom.threads_client._models_message import Message
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._resources._base import Resource, body, path


class Messages(Resource):
    """The messages of a thread."""

    async def create(
        self,
        thread_id: str,
        *,
        content: str | Sequence[Mapping[str, Any]],
        role: Literal["user", "assistant"] = "user",
        attachments: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Message:
        """Add a message to a thread.

        Args:
            thread_id: The thread.
            content: Text, or a list of content parts (``{"type": "text", "text": "…"}``,
                ``{"type": "image_file", …}``, ``{"type": "image_url", …}``).
            role: ``"user"`` or ``"assistant"``.
            attachments: Files to attach, with the tools they go to.
            metadata: Up to 16 string pairs.
            idempotency_key: Sent as ``Idempotency-Key``: a server that honours it adds one
                message for any number of requests with the same key and body.

        Raises:
            BadRequestError: Among others while a run on the thread is active.
        """
        return await self._client.request_model(
            Message,
            "POST",
            path("threads", thread_id, "messages"),
            json=body(role=role, content=content, attachments=attachments, metadata=metadata),
            idempotency_key=idempotency_key,
        )

    def list(
        self,
        thread_id: str,
        *,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
        before: str | None = None,
        run_id: str | None = None,
    ) -> AsyncPage[Message]:
        """List the messages of a thread (newest first unless ``order="asc"``).

        Returns:
            A page: ``await`` it for the first page, or ``async for`` over every message.
        """
        route = path("threads", thread_id, "messages")
        params = {"limit": limit, "order": order, "after": after, "before": before}
        return self._client.page(Message, route, {**params, "run_id": run_id})

    async def retrieve(self, thread_id: str, message_id: str) -> Message:
        """Read one message."""
        route = path("threads", thread_id, "messages", message_id)
        return await self._client.request_model(Message, "GET", route)

    async def update(
        self, thread_id: str, message_id: str, *, metadata: Mapping[str, str] | None = None
    ) -> Message:
        """Replace a message's metadata."""
        route = path("threads", thread_id, "messages", message_id)
        return await self._client.request_model(Message, "POST", route, json=body(metadata=metadata))

    async def delete(self, thread_id: str, message_id: str) -> DeletionStatus:
        """Delete a message."""
        route = path("threads", thread_id, "messages", message_id)
        return await self._client.request_model(DeletionStatus, "DELETE", route)
