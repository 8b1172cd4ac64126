"""Threads: create (with initial messages), retrieve, modify, delete."""

from __future__ import annotations

from typing import Any

from threadloom.threads_server.errors import not_found
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.messages import insert_message
from threadloom.threads_server.storage.rows import insert, load, lock_thread, save


def create_thread(conn: Conn, fields: dict[str, Any], thread_id: str | None = None) -> dict[str, Any]:
    """Store a thread and its initial `messages` (already validated)."""
    thread: dict[str, Any] = {
        "id": thread_id or new_id("thread"),
        "object": "thread",
        "created_at": now(),
        "tool_resources": fields.get("tool_resources") or {},
        "metadata": fields.get("metadata") or {},
    }
    insert(conn, "threads", thread)
    for message in fields.get("messages") or []:
        insert_message(conn, thread["id"], message)
    return thread


def get_thread(conn: Conn, thread_id: str) -> dict[str, Any]:
    """The thread, or 404."""
    thread = load(conn, "threads", thread_id)
    if thread is None:
        raise not_found("thread", thread_id)
    return thread


def modify_thread(conn: Conn, thread_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Replace metadata and/or tool resources."""
    lock_thread(conn, thread_id)
    thread = get_thread(conn, thread_id)
    for key in ("metadata", "tool_resources"):
        if key in fields:
            thread[key] = fields[key] or {}
    save(conn, "threads", thread)
    return thread


def delete_thread(conn: Conn, thread_id: str) -> dict[str, Any]:
    """Delete the thread with its messages, runs and run steps."""
    lock_thread(conn, thread_id)
    get_thread(conn, thread_id)
    for table in ("messages", "steps", "runs", "fault_claims"):
        conn.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
    conn.execute("DELETE FROM threads WHERE id = ?", (thread_id,))
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
