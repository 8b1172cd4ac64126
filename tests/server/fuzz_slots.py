"""The free-form fields the fuzz test fills (`test_fuzz.py`), and what it fills them with.

A slot names where a drawn value goes in which creating request, and where it sits in the object read
back. Strings include lone surrogates, NUL, RTL marks, BOM and 4-byte emoji; JSON values include NaN,
±Infinity, big integers and nested lists and objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

SPECIAL = ["\ud800", "\udfff", "a\ud83db", "\x00", "\u202eevil", "\U0001f600", "\ufeff", "", " "]
strings = st.one_of(
    st.text(st.characters(codec=None, categories=None, exclude_categories=()), max_size=30),
    st.sampled_from(SPECIAL),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()  # NaN and ±Infinity included: they must be refused
    | strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=12,
)
# String fields get strings mostly, other JSON values sometimes (a wrong type must be a clean 400).
string_or_any = st.one_of(strings, strings, strings, json_values)


Path_ = list[str | int]


@dataclass(frozen=True)
class Slot:
    """A free-form field: where its value goes in which request, and where it is read back."""

    name: str
    values: st.SearchStrategy[Any]
    body: Callable[[Any, str], dict[str, Any]]  # (value, assistant_id) → request body
    route: str  # "assistant", "thread", "message", "run", "thread_run"
    read: Path_  # where the value sits in the object read back


def tool(value: Any) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": "f", "parameters": {"p": value}}}]


def schema_format(value: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "n", "schema": {"p": value}}}


def user(value: Any) -> dict[str, Any]:
    return {"role": "user", "content": value}


TEXT: Path_ = ["content", 0, "text", "value"]
# File and vector store ids (tool resources, attachments) are not free-form: an id that names no
# file or store is refused (tests/file_search), so no drawn value could ever be accepted there.
SLOTS = [
    Slot(
        "assistant.name", string_or_any, lambda v, a: {"model": "echo", "name": v}, "assistant", ["name"]
    ),
    Slot(
        "assistant.description",
        string_or_any,
        lambda v, a: {"model": "echo", "description": v},
        "assistant",
        ["description"],
    ),
    Slot(
        "assistant.instructions",
        string_or_any,
        lambda v, a: {"model": "echo", "instructions": v},
        "assistant",
        ["instructions"],
    ),
    Slot("assistant.model", string_or_any, lambda v, a: {"model": v}, "assistant", ["model"]),
    Slot(
        "assistant.metadata value",
        string_or_any,
        lambda v, a: {"model": "echo", "metadata": {"k": v}},
        "assistant",
        ["metadata", "k"],
    ),
    Slot(
        "assistant.metadata key",
        strings,
        lambda v, a: {"model": "echo", "metadata": {v: "v"}},
        "assistant",
        ["metadata"],
    ),
    Slot(
        "assistant.tools parameters",
        json_values,
        lambda v, a: {"model": "echo", "tools": tool(v)},
        "assistant",
        ["tools", 0, "function", "parameters", "p"],
    ),
    Slot(
        "assistant.response_format schema",
        json_values,
        lambda v, a: {"model": "echo", "response_format": schema_format(v)},
        "assistant",
        ["response_format", "json_schema", "schema", "p"],
    ),
    Slot(
        "thread.metadata",
        string_or_any,
        lambda v, a: {"metadata": {"k": v}},
        "thread",
        ["metadata", "k"],
    ),
    Slot("thread.messages content", string_or_any, lambda v, a: {"messages": [user(v)]}, "thread", TEXT),
    Slot("message.content", string_or_any, lambda v, a: user(v), "message", TEXT),
    Slot(
        "message.text part",
        string_or_any,
        lambda v, a: user([{"type": "text", "text": v}]),
        "message",
        TEXT,
    ),
    Slot(
        "message.metadata",
        string_or_any,
        lambda v, a: {**user("c"), "metadata": {"k": v}},
        "message",
        ["metadata", "k"],
    ),
    Slot(
        "run.instructions",
        string_or_any,
        lambda v, a: {"assistant_id": a, "instructions": v},
        "run",
        ["instructions"],
    ),
    Slot(
        "run.additional_instructions",
        strings,
        lambda v, a: {"assistant_id": a, "instructions": "", "additional_instructions": v},
        "run",
        ["instructions"],
    ),
    Slot(
        "run.metadata",
        string_or_any,
        lambda v, a: {"assistant_id": a, "metadata": {"k": v}},
        "run",
        ["metadata", "k"],
    ),
    Slot(
        "run.tools parameters",
        json_values,
        lambda v, a: {"assistant_id": a, "tools": tool(v)},
        "run",
        ["tools", 0, "function", "parameters", "p"],
    ),
    Slot(
        "run.response_format schema",
        json_values,
        lambda v, a: {"assistant_id": a, "response_format": schema_format(v)},
        "run",
        ["response_format", "json_schema", "schema", "p"],
    ),
    Slot(
        "run.additional_messages content",
        string_or_any,
        lambda v, a: {"assistant_id": a, "additional_messages": [user(v)]},
        "run_message",
        TEXT,
    ),
    Slot(
        "thread_run.metadata",
        string_or_any,
        lambda v, a: {"assistant_id": a, "metadata": {"k": v}},
        "thread_run",
        ["metadata", "k"],
    ),
    Slot(
        "thread_run.thread message",
        string_or_any,
        lambda v, a: {"assistant_id": a, "thread": {"messages": [user(v)]}},
        "thread_run_message",
        TEXT,
    ),
]
