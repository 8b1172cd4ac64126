"""Attribute filters of a search: `ComparisonFilter` (`eq` `ne` `gt` `gte` `lt` `lte` `in` `nin`)
and `CompoundFilter` (`and` / `or`, nestable), applied to a store file's `attributes`.

A comparison on a key the file does not have is false (also for `ne` and `nin`); an ordering
comparison between a number and a string is false.
"""

from __future__ import annotations

from typing import Any

COMPARISONS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"})
COMPOUNDS = frozenset({"and", "or"})


class FilterError(ValueError):
    """A filter that is not a comparison or compound filter."""


def check(spec: Any, depth: int = 0) -> None:
    """FilterError if `spec` is not a well-formed filter."""
    if depth > 16 or not isinstance(spec, dict):
        raise FilterError("a filter is an object: a comparison or a compound filter")
    kind = spec.get("type", "eq")
    if kind in COMPOUNDS:
        items = spec.get("filters")
        if not isinstance(items, list) or set(spec) - {"type", "filters"}:
            raise FilterError(f"a '{kind}' filter has 'type' and a 'filters' array")
        for item in items:
            check(item, depth + 1)
        return
    if kind not in COMPARISONS or not isinstance(spec.get("key"), str) or "value" not in spec:
        raise FilterError(
            "a comparison filter has 'type' (eq, ne, gt, gte, lt, lte, in, nin), 'key', 'value'"
        )
    if set(spec) - {"type", "key", "value"}:
        raise FilterError("a comparison filter has only 'type', 'key' and 'value'")
    if kind in ("in", "nin") and not isinstance(spec["value"], list):
        raise FilterError(f"'{kind}' compares with an array value")


def _ordered(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def matches(spec: dict[str, Any], attributes: dict[str, Any]) -> bool:
    """Whether `attributes` pass the (checked) filter."""
    kind = spec.get("type", "eq")
    if kind == "and":
        return all(matches(item, attributes) for item in spec["filters"])
    if kind == "or":
        return any(matches(item, attributes) for item in spec["filters"])
    key, value = spec["key"], spec["value"]
    if key not in attributes:
        return False
    have = attributes[key]
    if kind == "eq":
        return bool(have == value)
    if kind == "ne":
        return bool(have != value)
    if kind == "in":
        return have in value
    if kind == "nin":
        return have not in value
    if not _ordered(have, value):
        return False
    return bool(
        {"gt": have > value, "gte": have >= value, "lt": have < value, "lte": have <= value}[kind]
    )
