"""The error tree of the Threads API client.

Every failure the client raises is a :class:`ThreadsError`. Lower-layer errors (httpx transport
errors, HTTP error statuses) are translated once, in the client's request function, into this tree::

    ThreadsError
    ├── APIConnectionError           could not connect / connection dropped
    │   └── APITimeoutError
    ├── APIStatusError               any non-2xx answer
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── UnprocessableEntityError 422
    │   ├── RateLimitError           429
    │   └── InternalServerError      5xx
    └── PollTimeoutError             the poll helper's deadline passed
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from threadloom.threads_client._models_run import Run

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "PollTimeoutError",
    "RateLimitError",
    "ThreadsError",
    "UnprocessableEntityError",
]


class ThreadsError(Exception):
    """Base class of every error the client raises.

    Attributes:
        message: A human-readable description of the failure.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which the default exception pickling loses.
        return (_restore, (type(self), self.args, self.__dict__))


class APIConnectionError(ThreadsError):
    """The request did not get an answer: connecting failed or the connection dropped."""

    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, write, read or pool timeout)."""

    def __init__(self, message: str = "Request timed out.") -> None:
        super().__init__(message)


class APIStatusError(ThreadsError):
    """The API answered with a non-2xx status.

    Attributes:
        status_code: The HTTP status code.
        message: The envelope's ``error.message`` (or the raw body when there is no envelope).
        type: The envelope's ``error.type``, e.g. ``"invalid_request_error"``.
        param: The envelope's ``error.param``.
        code: The envelope's ``error.code``.
        response_headers: The headers of the answer.
        request_id: The ``x-request-id`` header, when present.
        retry_after: Seconds the server asked the client to wait before retrying, from
            ``retry-after-ms`` or ``Retry-After`` (delay in seconds or an HTTP date); ``None`` when
            the answer carries neither.
        body: The decoded JSON body, or the raw text when it is not JSON.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        response_headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.type = type
        self.param = param
        self.code = code
        self.response_headers: dict[str, str] = dict(response_headers or {})
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        return f"Error code: {self.status_code} - {self.message}"


class BadRequestError(APIStatusError):
    """HTTP 400: invalid input or a state conflict such as the thread lock."""


class AuthenticationError(APIStatusError):
    """HTTP 401: missing or invalid API key."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not do this."""


class NotFoundError(APIStatusError):
    """HTTP 404: unknown thread, message, run, step or assistant id."""


class ConflictError(APIStatusError):
    """HTTP 409: the resource is in a conflicting state."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests; see :attr:`retry_after`."""


class InternalServerError(APIStatusError):
    """HTTP 5xx: the server failed; see :attr:`retry_after`."""


class PollTimeoutError(ThreadsError):
    """The poll helper's deadline passed while the run was still active.

    Attributes:
        run: The last state of the run that was seen.
    """

    def __init__(self, run: Run, timeout: float | None = None) -> None:
        after = f" after {timeout:g}s" if timeout is not None else ""
        super().__init__(f"Run {run.id} still {run.status!r}{after}.")
        self.run = run
        self.timeout = timeout


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _restore(cls: type[ThreadsError], args: tuple[Any, ...], state: dict[str, Any]) -> ThreadsError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Read the delay the server asks for from ``retry-after-ms`` or ``Retry-After``.

    Args:
        headers: Response headers (case-insensitive mapping, like ``httpx.Headers``).
        now: The current Unix time, for HTTP-date values; defaults to ``time.time()``.

    Returns:
        The delay in seconds (never negative), or ``None`` if no usable header is present.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def status_error_from_response(response: httpx.Response) -> APIStatusError:
    """Build the typed error for a non-2xx response whose body has been read.

    The ``{"error": {message, type, param, code}}`` envelope is preferred; a FastAPI-style
    ``{"detail": ...}`` body or plain text becomes the message otherwise.
    """
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text
    message, fields = _envelope_fields(body)
    if not message:
        message = response.reason_phrase or f"HTTP {response.status_code}"
    status = response.status_code
    cls = _STATUS_ERRORS.get(status, InternalServerError if status >= 500 else APIStatusError)
    return cls(
        message,
        status_code=status,
        type=fields.get("type"),
        param=fields.get("param"),
        code=fields.get("code"),
        response_headers=response.headers,
        request_id=response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers),
        body=body,
    )


def _envelope_fields(body: Any) -> tuple[str, dict[str, str | None]]:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            fields = {key: _as_text(error.get(key)) for key in ("type", "param", "code")}
            return _as_text(error.get("message")) or "", fields
        if isinstance(error, str):
            return error, {}
        if "detail" in body:
            return str(body["detail"]), {}
    if isinstance(body, str):
        return body.strip(), {}
    return "", {}


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)
