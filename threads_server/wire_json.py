"""The one JSON codec of the server: request bodies in, stored rows and every answer out.

Storage and the answers use the same strict `encode`, so nothing can be stored that cannot be answered
(the reverse of the old defect, where rows holding a lone surrogate committed and then every read of
them failed). `decode_body` refuses, with a 400 before anything runs, what `encode` could not write
back or the parser cannot take:

- bytes that are not UTF-8, and strings holding a lone UTF-16 surrogate (`"\\ud800"`): UTF-8 has no
  encoding for them, so no JSON answer could carry them;
- `NaN`, `Infinity` and numbers that overflow to them (`1e999`): not JSON;
- nesting deeper than `max_depth`, and integers past Python's digit limit (the parser would raise
  `RecursionError` / `ValueError`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi.responses import JSONResponse


class InvalidBody(ValueError):
    """A request body `decode_body` refuses; the message says why, for the 400 answer."""


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NOT_JSON = "We could not parse the JSON body of your request. The API expects a JSON payload"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode(value: Any) -> bytes:
    """`value` as compact JSON in UTF-8: the body of every JSON answer and SSE event.

    Raises ValueError for NaN/Infinity and UnicodeEncodeError (a ValueError) for a lone surrogate.
    """
    return _dumps(value).encode("utf-8")


def encode_text(value: Any) -> str:
    """`value` as stored in a row: the same text `encode` answers, refused for the same values."""
    text = _dumps(value)
    # A lone surrogate passes json.dumps(ensure_ascii=False) but has no UTF-8 form: fail here, inside
    # the writer's transaction (which then rolls back), not when a later read answers the row.
    text.encode("utf-8")
    return text


def decode_stored(text: str | bytes) -> Any:
    """A stored row back to its object (rows were written by `encode_text`, so no checks)."""
    return json.loads(text)


class WireJSONResponse(JSONResponse):
    """FastAPI's JSON answer, rendered by `encode` (the app's default response class)."""

    def render(self, content: Any) -> bytes:
        """The body."""
        return encode(content)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _check_tree(value: Any, max_depth: int) -> None:
    """`InvalidBody` for nesting past `max_depth` or a string (value or key) with a lone surrogate."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise InvalidBody(f"The JSON body is nested deeper than {max_depth} levels.")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidBody(
            f"{_NOT_JSON}: a string holds a lone UTF-16 surrogate escape, which is not valid "
            "Unicode text (pair it, or escape the character another way)."
        ) from None


def decode_body(raw: bytes, *, max_depth: int) -> Any:
    """Parse a request body (non-empty bytes); raises `InvalidBody` for every refusal."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody(f"{_NOT_JSON} (the body is not valid UTF-8).") from None
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidBody(f"{_NOT_JSON} ({exc.msg} at line {exc.lineno} column {exc.colno}).") from None
    except RecursionError:
        raise InvalidBody(f"The JSON body is nested deeper than {max_depth} levels.") from None
    except ValueError as exc:  # NaN / Infinity, overflowing floats, integers past the digit limit
        reason = str(exc)
        if "integer string conversion" in reason:
            reason = "an integer has more digits than the parser takes (4300)"
        raise InvalidBody(f"{_NOT_JSON} ({reason[:200]}).") from None
    # Walk the tree only when it could hold a problem: a surrogate escape, or enough brackets.
    if _SURROGATE_ESCAPE.search(raw) or raw.count(b"{") + raw.count(b"[") > max_depth:
        _check_tree(value, max_depth)
    return value
