"""What every resource shares: the client handle, paths, request bodies, event streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel

from threadloom.threads_client._streaming import StreamEvent, iter_stream_events

if TYPE_CHECKING:
    from threadloom.threads_client._client import ThreadsClient


class Resource:
    """Base of the resource classes: holds the client that sends their requests."""

    def __init__(self, client: ThreadsClient) -> None:
        self._client = client


def path(*parts: str) -> str:
    """Join literal path parts and ids, percent-encoding ids so they stay one segment.

    Odd positions are ids: ``path("threads", thread_id, "runs")``.

    Raises:
        ValueError: When an id is empty (it would silently address another endpoint).
    """
    segments = []
    for position, part in enumerate(parts):
        if position % 2:
            if not part:
                raise ValueError(f"Expected a non-empty id after /{parts[position - 1]}")
            part = quote(part, safe="")
        segments.append(part)
    return "/" + "/".join(segments)


def body(**fields: Any) -> dict[str, Any]:
    """A JSON request body from keyword fields, leaving out those that are ``None``."""
    return {key: jsonable(value) for key, value in fields.items() if value is not None}


def jsonable(value: Any) -> Any:
    """Turn pydantic models (e.g. tool definitions) nested anywhere in ``value`` into JSON data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


async def stream_events(
    client: ThreadsClient, route: str, payload: dict[str, Any]
) -> AsyncIterator[StreamEvent]:
    """POST ``payload`` with ``stream: true`` and yield the typed events of the answer."""
    async with client.stream("POST", route, json={**payload, "stream": True}) as chunks:
        async for event in iter_stream_events(chunks):
            yield event
