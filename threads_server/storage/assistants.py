"""Assistants: create, retrieve, modify, list, delete."""

from __future__ import annotations

from typing import Any

from threadloom.threads_server.errors import not_found
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.rows import ListQuery, insert, list_page, load, save


def create_assistant(conn: Conn, fields: dict[str, Any]) -> dict[str, Any]:
    """Store a new assistant from the fields of a create request."""
    assistant = {
        "id": new_id("asst"),
        "object": "assistant",
        "created_at": now(),
        "name": None,
        "description": None,
        "model": fields["model"],
        "instructions": None,
        "tools": [],
        "tool_resources": {},
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "response_format": "auto",
    }
    assistant.update(_present(fields))
    conn.lock("assistants")  # the list's rows commit in `seq` order (see rows.lock_thread)
    insert(conn, "assistants", assistant)
    return assistant


def get_assistant(conn: Conn, assistant_id: str) -> dict[str, Any]:
    """The assistant, or 404."""
    assistant = load(conn, "assistants", assistant_id)
    if assistant is None:
        raise not_found("assistant", assistant_id)
    return assistant


def modify_assistant(conn: Conn, assistant_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Apply the given fields (metadata replaces the whole map) and store."""
    conn.lock(f"assistant {assistant_id}")
    assistant = get_assistant(conn, assistant_id)
    assistant.update(_present(fields))
    save(conn, "assistants", assistant)
    return assistant


def list_assistants(conn: Conn, query: ListQuery) -> dict[str, Any]:
    """A page of assistants."""
    return list_page(conn, "assistants", query)


def delete_assistant(conn: Conn, assistant_id: str) -> dict[str, Any]:
    """Delete the assistant (its runs keep their `assistant_id`)."""
    get_assistant(conn, assistant_id)
    conn.execute("DELETE FROM assistants WHERE id = ?", (assistant_id,))
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields sent with a value; an explicit null metadata or tool_resources means empty."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("metadata", "tool_resources") and value is None:
            value = {}
        if key in ("tools",) and value is None:
            value = []
        if key == "model" and value is None:
            continue
        out[key] = value
    return out
