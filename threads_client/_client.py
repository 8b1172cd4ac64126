"""The client object and its one request function (headers, auth, retries, error mapping)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, TypeVar

import httpx
from pydantic import BaseModel

from threadloom.threads_client._headers import int_header
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._resources.assistants import Assistants
from threadloom.threads_client._resources.files import Files
from threadloom.threads_client._resources.threads import Threads
from threadloom.threads_client._resources.vector_stores import VectorStores
from threadloom.threads_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ThreadsError,
    status_error_from_response,
)

__all__ = ["DEFAULT_BASE_URL", "ThreadsClient"]

DEFAULT_BASE_URL: Final = "http://127.0.0.1:8700/v1"
"""threadloom's own server on its default port."""

INITIAL_RETRY_DELAY: Final = 0.5
"""Seconds before the first retry; doubles on each further retry."""

MAX_RETRY_DELAY: Final = 8.0
"""The longest backoff between two attempts, in seconds."""

MAX_RETRY_AFTER: Final = 60.0
"""A ``Retry-After`` up to this many seconds is honoured; a longer one falls back to backoff."""

_RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
IDEMPOTENCY_RETENTION_HEADER: Final = "threadloom-idempotency-keys"
"""Sent by a server that honours ``Idempotency-Key``: for how many seconds it remembers a key."""

ModelT = TypeVar("ModelT", bound=BaseModel)


class ThreadsClient:
    """Async client for the Threads API (OpenAI Assistants v2 wire format).

    Args:
        base_url: The API root, ending in ``/v1`` for OpenAI-style servers (for Azure, the
            resource's ``…/openai`` root, without ``/v1``).
        api_key: Sent as ``Authorization: Bearer <key>``, or as the ``api-key`` header in Azure
            style; nothing is sent when ``None``.
        azure_api_version: Switches to Azure style: ``api-key`` header and this
            ``api-version`` query parameter on every call.
        max_retries: Retries after the first attempt on connection errors, timeouts, 408, 409,
            429 and 5xx, with exponential backoff and jitter, honouring ``Retry-After``.
            ``0`` means exactly one attempt (use it where something else owns retries, such as
            Temporal activities). Each POST carries one ``Idempotency-Key`` for all its
            attempts, so a server that honours keys (threadloom's does, on its non-streaming
            creates) creates the object once. Anything else — a streaming create, a cancel, tool
            outputs, a metadata update, or any POST to other servers — may be applied twice, or
            answer 400 on the retry because the first attempt already changed the run.
        timeout: Seconds for each HTTP attempt (connect, read, write, pool).
        transport: An ``httpx.AsyncBaseTransport`` to use instead of the network (tests).
        default_headers: Extra headers sent on every request.
        max_connections: Open connections at most; a call waits (up to ``timeout``) for a free
            one. A long-poll holds its connection while it waits.

    Example:
        >>> async with ThreadsClient() as client:  # doctest: +SKIP
        ...     thread = await client.threads.create()
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        azure_api_version: str | None = None,
        max_retries: int = 2,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_connections: int = 100,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.timeout = timeout
        self.azure_api_version = azure_api_version
        headers = {"OpenAI-Beta": "assistants=v2", "Accept": "application/json"}
        params: dict[str, str] = {}
        if azure_api_version is not None:
            params["api-version"] = azure_api_version
            if api_key is not None:
                headers["api-key"] = api_key
        elif api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        headers.update(default_headers or {})
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers=headers,
            params=params,
            timeout=timeout,
            transport=transport,
            # As many kept alive as open: httpcore closes idle connections once the pool holds more
            # than max_keepalive_connections in all, so held long-polls would make every other
            # request open a new connection.
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self.threads = Threads(self)
        """Threads, and under them ``messages``, ``runs`` and ``runs.steps``."""
        self.assistants = Assistants(self)
        """Assistants."""
        self.files = Files(self)
        """Files (upload, list, retrieve, content, delete)."""
        self.vector_stores = VectorStores(self)
        """Vector stores, their files and search."""
        self.idempotency_retention: int | None = None
        """Seconds the server remembers an ``Idempotency-Key``, learned from its last successful
        answer (``threadloom-idempotency-keys``); ``None`` until then, or if it does not honour keys."""
        self.long_poll_max_ms: int | None = None
        """The longest long-poll the server grants, learned from its last answer to a run GET."""
        self.long_poll_several_statuses = False
        """Whether that answer said ``if_status`` may list several statuses."""
        self.run_messages_max: int | None = None
        """The most messages that answer said the server sends beside an ended run, if it does."""

    async def __aenter__(self) -> ThreadsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-attempt HTTP timeout
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send one API call (with retries) and return its successful, fully read response.

        Args:
            method: HTTP method.
            path: Path below the base URL, e.g. ``"/threads/thread_abc/runs"``.
            params: Query parameters; ``None`` values are left out.
            json: The JSON body, if any.
            timeout: Seconds for each attempt, instead of the client's.
            idempotency_key: The ``Idempotency-Key`` of a POST (default: a new one per call
                when retries are on).

        Raises:
            APIStatusError: A subclass chosen by the status, for a non-2xx answer.
            APIConnectionError: When no answer arrived (``APITimeoutError`` on a timeout).
        """
        return await self._send(
            method, path, params=params, json=json, timeout=timeout, idempotency_key=idempotency_key
        )

    async def request_model(
        self,
        model: type[ModelT],
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> ModelT:
        """Send one API call and parse its JSON answer into ``model``."""
        response = await self._send(
            method, path, params=params, json=json, idempotency_key=idempotency_key
        )
        return model.model_validate_json(response.content)

    def page(
        self, model: type[ModelT], path: str, params: Mapping[str, Any] | None = None
    ) -> AsyncPage[ModelT]:
        """A lazily loaded page of the list endpoint at ``path`` (``GET``, with ``params``)."""

        async def fetch(query: Mapping[str, Any]) -> Mapping[str, Any]:
            response = await self._send("GET", path, params=query)
            payload = response.json()
            if not isinstance(payload, Mapping):
                raise ThreadsError(f"Expected a list object from GET {path}, got {payload!r:.200}")
            return payload

        return AsyncPage(fetch, model, params)

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, json: Any = None
    ) -> AsyncIterator[AsyncIterator[str]]:
        """Send one streaming API call; inside the block, iterate the decoded text chunks.

        Errors before the answer starts are raised (and retried) as for :meth:`request`; a
        connection lost mid-stream raises :class:`APIConnectionError`.
        """
        response = await self._send(method, path, json=json, stream=True)
        try:
            yield _translate_stream_errors(response.aiter_text())
        finally:
            await response.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-attempt HTTP timeout
        stream: bool = False,
        idempotency_key: str | None = None,
        files: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        query = {key: _query_value(value) for key, value in (params or {}).items() if value is not None}
        headers = {"Accept": "text/event-stream"} if stream else {}
        if idempotency_key is None and method.upper() == "POST" and self.max_retries > 0:
            idempotency_key = f"threadloom-retry-{uuid.uuid4()}"
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        request = self._http.build_request(
            method,
            path.lstrip("/"),
            params=query or None,
            json=json,
            files=files,  # multipart uploads (`files.create`)
            data=data,
            headers=headers or None,
            timeout=self.timeout if timeout is None else timeout,
        )
        attempt = 0
        while True:
            error: ThreadsError
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                error = APITimeoutError(f"Request timed out: {method} {request.url.path}")
                error.__cause__ = exc
            except httpx.TransportError as exc:
                error = APIConnectionError(f"Connection error: {method} {request.url.path}: {exc!r}")
                error.__cause__ = exc
            else:
                if response.is_success:
                    self.idempotency_retention = int_header(
                        response.headers, IDEMPOTENCY_RETENTION_HEADER
                    )
                    return response
                if stream:
                    await response.aread()
                    await response.aclose()
                error = status_error_from_response(response)
            if attempt >= self.max_retries or not _is_retryable(error):
                raise error
            await asyncio.sleep(_retry_delay(attempt, error))
            attempt += 1


def _is_retryable(error: ThreadsError) -> bool:
    if isinstance(error, APIConnectionError):
        return True
    if isinstance(error, APIStatusError):
        return error.status_code in _RETRYABLE_STATUSES or error.status_code >= 500
    return False


def _retry_delay(attempt: int, error: ThreadsError) -> float:
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, float) and 0 <= retry_after <= MAX_RETRY_AFTER:
        return retry_after
    backoff = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    # Up to 25% jitter, so that clients that failed together do not retry together.
    return backoff * (1.0 - 0.25 * random.random())


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


async def _translate_stream_errors(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.TimeoutException as exc:
        raise APITimeoutError("Stream timed out.") from exc
    except httpx.TransportError as exc:
        raise APIConnectionError(f"Stream interrupted: {exc!r}") from exc
