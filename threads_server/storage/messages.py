"""Messages: create (respecting the thread lock), list, retrieve, modify, delete."""

from __future__ import annotations

from typing import Any

from threadloom.threads_server.errors import APIError, not_found
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.rows import (
    ListQuery,
    insert,
    list_page,
    load,
    lock_thread,
    save,
)
from threadloom.threads_server.wire_json import decode_stored

ACTIVE_RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")


def active_run_id(conn: Conn, thread_id: str) -> str | None:
    """The id of the thread's active run, if any (the thread lock)."""
    row = conn.execute(
        "SELECT id FROM runs WHERE thread_id = ? AND status IN (?, ?, ?, ?) LIMIT 1",
        (thread_id, *ACTIVE_RUN_STATUSES),
    ).fetchone()
    return row[0] if row else None


def content_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Request content (a string or request parts) as message content parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts = []
    for part in content:
        if part["type"] == "text":
            parts.append({"type": "text", "text": {"value": part["text"], "annotations": []}})
        else:
            parts.append(part)
    return parts


def new_message(
    thread_id: str,
    role: str,
    content: list[dict[str, Any]],
    *,
    status: str = "completed",
    run_id: str | None = None,
    assistant_id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A message object (not stored)."""
    return {
        "id": new_id("msg"),
        "object": "thread.message",
        "created_at": now(),
        "thread_id": thread_id,
        "status": status,
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": role,
        "content": content,
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": attachments or [],
        "metadata": metadata or {},
    }


def store_message(conn: Conn, message: dict[str, Any]) -> None:
    """Insert a message object."""
    insert(conn, "messages", message, thread_id=message["thread_id"], run_id=message["run_id"])


def insert_message(conn: Conn, thread_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Store a hand-made message from a validated `CreateMessageRequest` (no lock check)."""
    message = new_message(
        thread_id,
        fields["role"],
        content_parts(fields["content"]),
        attachments=fields.get("attachments"),
        metadata=fields.get("metadata"),
    )
    store_message(conn, message)
    return message


def ensure_room(conn: Conn, thread_id: str, adding: int, most: int) -> None:
    """400 unless the thread can take `adding` more messages without passing `most`."""
    if adding <= 0:
        return
    # Counting the thread's index entries is cheap next to the write (see docs/server.md, Limits).
    held = conn.execute("SELECT COUNT(*) FROM messages WHERE thread_id = ?", (thread_id,)).fetchone()[0]
    if held + adding > most:
        raise APIError(
            f"Thread {thread_id} already has {held} messages; a thread holds at most {most}.",
            code="thread_message_limit",
        )


def create_message(
    conn: Conn, thread_id: str, fields: dict[str, Any], max_messages: int
) -> dict[str, Any]:
    """Add a message unless a run holds the thread lock or the thread is full."""
    lock_thread(conn, thread_id)
    _require_thread(conn, thread_id)
    run_id = active_run_id(conn, thread_id)
    if run_id is not None:
        raise APIError(f"Can't add messages to {thread_id} while a run {run_id} is active.")
    ensure_room(conn, thread_id, 1, max_messages)
    return insert_message(conn, thread_id, fields)


def get_message(conn: Conn, thread_id: str, message_id: str) -> dict[str, Any]:
    """The message, or 404."""
    _require_thread(conn, thread_id)
    message = load(conn, "messages", message_id)
    if message is None or message["thread_id"] != thread_id:
        raise not_found("message", message_id)
    return message


def save_message(conn: Conn, message: dict[str, Any]) -> None:
    """Overwrite a stored message."""
    save(conn, "messages", message)


def modify_message(
    conn: Conn, thread_id: str, message_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Replace the message's metadata."""
    lock_thread(conn, thread_id)
    message = get_message(conn, thread_id, message_id)
    if "metadata" in fields:
        message["metadata"] = fields["metadata"] or {}
    save(conn, "messages", message)
    return message


def delete_message(conn: Conn, thread_id: str, message_id: str) -> dict[str, Any]:
    """Delete one message."""
    lock_thread(conn, thread_id)
    get_message(conn, thread_id, message_id)
    conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}


def list_messages(
    conn: Conn, thread_id: str, query: ListQuery, run_id: str | None = None
) -> dict[str, Any]:
    """A page of the thread's messages, optionally only those created by `run_id`."""
    _require_thread(conn, thread_id)
    if run_id is None:
        return list_page(conn, "messages", query, "thread_id = ?", (thread_id,))
    return list_page(conn, "messages", query, "thread_id = ? AND run_id = ?", (thread_id, run_id))


def thread_messages(conn: Conn, thread_id: str) -> list[dict[str, Any]]:
    """Every message of the thread in order (for responders)."""
    rows = conn.execute(
        "SELECT body FROM messages WHERE thread_id = ? ORDER BY seq", (thread_id,)
    ).fetchall()
    return [decode_stored(row[0]) for row in rows]


def _require_thread(conn: Conn, thread_id: str) -> None:
    if conn.execute("SELECT 1 FROM threads WHERE id = ?", (thread_id,)).fetchone() is None:
        raise not_found("thread", thread_id)
