"""The one request decoder: every route reads its JSON body through `read_body`.

`wire_json.decode_body` turns the bytes into JSON values (400 for what is not JSON, or not storable),
then the route's model validates them with the server's settings as context, so the limits that are
settings apply in every route alike. The body size itself is bounded earlier, by
`http_layer.BodyLimitMiddleware`, before the body is buffered.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel

from threadloom.threads_server.errors import APIError
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage.rows import ListQuery
from threadloom.threads_server.wire_json import InvalidBody, decode_body

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, model: type[M], *, allow_empty: bool = False) -> M:
    """Parse the JSON body of `request` into `model`; errors become a 400 `APIError`."""
    settings: ServerSettings = request.app.state.services.settings
    raw = await request.body()
    if not raw.strip():
        if not allow_empty:
            raise APIError("The request body must be a JSON object.")
        data: Any = {}
    else:
        try:
            data = decode_body(raw, max_depth=settings.max_json_depth)
        except InvalidBody as exc:
            raise APIError(str(exc)) from None
    if not isinstance(data, dict):
        raise APIError("The request body must be a JSON object.")
    return model.model_validate(data, context=settings)


def dump(model: BaseModel) -> dict[str, Any]:
    """The fields the caller actually sent, as plain JSON values under their wire names."""
    return model.model_dump(mode="json", exclude_unset=True, by_alias=True)


async def list_query(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query()] = None,
    before: Annotated[str | None, Query()] = None,
) -> ListQuery:
    """FastAPI dependency: the list parameters every list endpoint takes (async: no thread hop)."""
    return ListQuery(limit=limit, order=order, after=after, before=before)


INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
Include = Annotated[list[str] | None, Query(alias="include[]")]
"""The `include[]` query parameter of create run, list steps and get step."""


def wants_content(include: list[str] | None) -> bool:
    """Whether `include[]` asks for file_search result content; 400 for any other value."""
    for value in include or []:
        if value != INCLUDE_CONTENT:
            raise APIError(
                f"Invalid value for 'include[]': {value!r}; the only supported value is "
                f"'{INCLUDE_CONTENT}'.",
                param="include[]",
            )
    return bool(include)
