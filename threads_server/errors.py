"""The API's error envelope and the one place that maps exceptions onto it.

```
APIError (status, message, type, param, code, headers)
├── raised by storage and routes: not found (404), invalid request (400), wrong state (400)
├── built here from FastAPI/pydantic validation errors (always 400, never FastAPI's 422)
└── built here from `StorageUnavailable`: the database is unreachable (503, `Retry-After: 1`)
```
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadloom.threads_server.storage.errors import StorageUnavailable
from threadloom.threads_server.wire_json import WireJSONResponse

UNAVAILABLE_MESSAGE = "The database is unavailable; nothing was written. Retry the request shortly."


class APIError(Exception):
    """An error answered as `{"error": {message, type, param, code}}` with `status`."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}


def not_found(kind: str, object_id: str) -> APIError:
    """404 for an unknown id, worded like OpenAI's (`No thread found with id 'thread_x'.`)."""
    return APIError(f"No {kind} found with id '{object_id}'.", status=404)


def envelope(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(error: APIError) -> WireJSONResponse:
    """The HTTP answer for an `APIError`."""
    body = envelope(error.message, type=error.type, param=error.param, code=error.code)
    return WireJSONResponse(body, status_code=error.status, headers=error.headers)


def _param(loc: tuple[Any, ...]) -> str | None:
    parts: list[str] = []
    for item in loc:
        if item in ("body", "query", "path", "header"):
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif str(item).isidentifier():
            parts.append(("." if parts else "") + str(item))
        # other entries are pydantic's labels of union members ("constrained-str", "list[…]")
    return "".join(parts) or None


def validation_error(errors: list[Any]) -> APIError:
    """One 400 `APIError` describing the first problem pydantic found."""
    if not errors:
        return APIError("Invalid request.")
    # Of a union's alternatives, the one that got furthest into the value says best what is wrong.
    first = max(errors, key=lambda error: len(error.get("loc", ())))
    param = _param(tuple(first.get("loc", ())))
    kind = first.get("type", "")
    if kind == "missing":
        return APIError(f"Missing required parameter: '{param}'.", param=param)
    if kind == "extra_forbidden":
        return APIError(f"Unrecognized request argument supplied: {param}", param=param)
    if kind == "json_invalid":
        return APIError(
            "We could not parse the JSON body of your request. The API expects a JSON payload.",
        )
    message = str(first.get("msg", "invalid value")).rstrip(".")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return APIError(f"Invalid value for '{param}': {message}.", param=param)


def install_error_handlers(app: FastAPI) -> None:
    """Map `APIError`, validation errors and routing errors onto the envelope."""

    async def on_api_error(_request: Request, exc: Exception) -> WireJSONResponse:
        assert isinstance(exc, APIError)
        return error_response(exc)

    async def on_validation(_request: Request, exc: Exception) -> WireJSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        return error_response(validation_error(list(exc.errors())))

    async def on_http(_request: Request, exc: Exception) -> WireJSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            message = "Unknown request URL. Please check the URL for typos."
        elif exc.status_code == 405:
            message = "Method not allowed for this URL."
        else:
            message = str(exc.detail)
        return error_response(APIError(message, status=exc.status_code))

    async def on_unavailable(_request: Request, exc: Exception) -> WireJSONResponse:
        error = APIError(
            UNAVAILABLE_MESSAGE,
            status=503,
            type="server_error",
            code="database_unavailable",
            headers={"retry-after": "1"},
        )
        return error_response(error)

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(StorageUnavailable, on_unavailable)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
