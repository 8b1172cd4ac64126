"""Cursor pagination over list endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

__all__ = ["AsyncPage", "PageFetcher"]

ModelT = TypeVar("ModelT", bound=BaseModel)

PageFetcher = Callable[[Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""Fetches one list answer (``{"object": "list", "data": [...], ...}``) for the query params."""


class AsyncPage(Generic[ModelT]):
    """One page of a list endpoint, loaded lazily.

    ``await`` it to load the first page, then read ``data``, ``first_id``, ``last_id`` and
    ``has_more``; ``await page.next_page()`` loads the following page. ``async for item in page``
    walks every item of every page, asking for each next page with ``after`` = the last id.

    Example:
        >>> page = await client.threads.messages.list(thread_id)  # doctest: +SKIP
        >>> async for message in client.threads.messages.list(thread_id, order="asc"):
        ...     print(message.text)  # doctest: +SKIP
    """

    def __init__(
        self, fetch: PageFetcher, model: type[ModelT], params: Mapping[str, Any] | None = None
    ) -> None:
        self._fetch = fetch
        self._model = model
        self._params = {key: value for key, value in (params or {}).items() if value is not None}
        self._loaded = False
        self._data: list[ModelT] = []
        self._first_id: str | None = None
        self._last_id: str | None = None
        self._has_more = False

    def __await__(self) -> Generator[Any, None, AsyncPage[ModelT]]:
        return self._load().__await__()

    def __aiter__(self) -> AsyncIterator[ModelT]:
        return self._iterate()

    def __repr__(self) -> str:
        if not self._loaded:
            return f"AsyncPage({self._model.__name__}, params={self._params!r}, not loaded)"
        return f"AsyncPage({self._model.__name__}, items={len(self._data)}, has_more={self._has_more})"

    @property
    def data(self) -> list[ModelT]:
        """The items of this page."""
        self._require_loaded()
        return self._data

    @property
    def first_id(self) -> str | None:
        """The id of the first item (``None`` for an empty page)."""
        self._require_loaded()
        return self._first_id

    @property
    def last_id(self) -> str | None:
        """The id of the last item (``None`` for an empty page)."""
        self._require_loaded()
        return self._last_id

    @property
    def has_more(self) -> bool:
        """Whether the server has items after this page."""
        self._require_loaded()
        return self._has_more

    async def next_page(self) -> AsyncPage[ModelT] | None:
        """Load the page after this one.

        Returns:
            The next page, or ``None`` when this is the last one.
        """
        await self._load()
        if not self._has_more or self._last_id is None:
            return None
        page = AsyncPage(self._fetch, self._model, {**self._params, "after": self._last_id})
        return await page

    async def _load(self) -> AsyncPage[ModelT]:
        if not self._loaded:
            body = await self._fetch(self._params)
            raw_items = body.get("data") or []
            self._data = [self._model.model_validate(item) for item in raw_items]
            self._first_id = body.get("first_id") or _item_id(self._data, 0)
            self._last_id = body.get("last_id") or _item_id(self._data, -1)
            # An empty page that claims more would loop forever: treat it as the end.
            self._has_more = bool(body.get("has_more")) and bool(self._data)
            self._loaded = True
        return self

    async def _iterate(self) -> AsyncIterator[ModelT]:
        page: AsyncPage[ModelT] | None = await self._load()
        while page is not None:
            for item in page.data:
                yield item
            page = await page.next_page()

    def _require_loaded(self) -> None:
        if not self._loaded:
            raise RuntimeError("The page is not loaded yet: `await` it first.")


def _item_id(items: list[Any], index: int) -> str | None:
    if not items:
        return None
    value = getattr(items[index], "id", None)
    return value if isinstance(value, str) else None
