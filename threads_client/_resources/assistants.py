"""``/assistants``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from threadloom.threads_client._models import Assistant, DeletionStatus
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._resources._base import Resource, body, path
from threadloom.threads_client._resources._params import ToolParam


class Assistants(Resource):
    """Assistants: the model, instructions and tools that runs use."""

    async def create(
        self,
        *,
        model: str,
        name: str | None = None,
        description: str | None = None,
        instructions: str | None = None,
        tools: Sequence[ToolParam] | None = None,
        metadata: Mapping[str, str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        response_format: str | Mapping[str, Any] | BaseModel | None = None,
        **extra: Any,
    ) -> Assistant:
        """Create an assistant.

        Args:
            model: The model (on threadloom's server also a responder such as ``"echo"``).
            name: Display name.
            description: Description.
            instructions: System instructions.
            tools: Tool definitions (dicts or tool models).
            metadata: Up to 16 string pairs.
            temperature: Sampling temperature.
            top_p: Nucleus sampling.
            response_format: ``"auto"`` or a response-format object.
            **extra: Further fields of the request body (e.g. ``tool_resources``).
        """
        payload = body(
            model=model,
            name=name,
            description=description,
            instructions=instructions,
            tools=tools,
            metadata=metadata,
            temperature=temperature,
            top_p=top_p,
            response_format=response_format,
            **extra,
        )
        return await self._client.request_model(Assistant, "POST", "/assistants", json=payload)

    async def retrieve(self, assistant_id: str) -> Assistant:
        """Read an assistant."""
        return await self._client.request_model(Assistant, "GET", path("assistants", assistant_id))

    async def update(self, assistant_id: str, **fields: Any) -> Assistant:
        """Change the given fields of an assistant (``None`` values are not sent)."""
        return await self._client.request_model(
            Assistant, "POST", path("assistants", assistant_id), json=body(**fields)
        )

    def list(
        self,
        *,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> AsyncPage[Assistant]:
        """List assistants (newest first unless ``order="asc"``).

        Returns:
            A page: ``await`` it for the first page, or ``async for`` over every assistant.
        """
        params = {"limit": limit, "order": order, "after": after, "before": before}
        return self._client.page(Assistant, "/assistants", params)

    async def delete(self, assistant_id: str) -> DeletionStatus:
        """Delete an assistant."""
        return await self._client.request_model(
            DeletionStatus, "DELETE", path("assistants", assistant_id)
        )
