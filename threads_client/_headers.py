"""Reading the numeric hint headers a server sends (poll-after, long-poll maximum, key retention)."""

from __future__ import annotations

import httpx


def int_header(headers: httpx.Headers, name: str) -> int | None:
    """The header `name` as a non-negative integer; None when absent or not a number."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = int(float(value))
    except ValueError:
        return None
    return number if number >= 0 else None
