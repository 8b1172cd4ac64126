"""Run steps: `message_creation` and `tool_calls` steps, listed and retrieved per run."""

from __future__ import annotations

import json
from typing import Any

from threadloom.threads_server.errors import not_found
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.rows import ListQuery, insert, list_page, load, save


def new_step(run: dict[str, Any], step_details: dict[str, Any]) -> dict[str, Any]:
    """An in-progress step of `run` (not stored)."""
    return {
        "id": new_id("step"),
        "object": "thread.run.step",
        "created_at": now(),
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "run_id": run["id"],
        "type": step_details["type"],
        "status": "in_progress",
        "step_details": step_details,
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }


def store_step(conn: Conn, step: dict[str, Any]) -> None:
    """Insert a step."""
    insert(
        conn,
        "steps",
        step,
        thread_id=step["thread_id"],
        run_id=step["run_id"],
        status=step["status"],
    )


def save_step(conn: Conn, step: dict[str, Any]) -> None:
    """Overwrite a stored step."""
    save(conn, "steps", step, status=step["status"])


def load_step(conn: Conn, step_id: str) -> dict[str, Any] | None:
    """A step by id, or None."""
    return load(conn, "steps", step_id)


def in_progress_steps(conn: Conn, run_id: str) -> list[dict[str, Any]]:
    """The run's steps that have not finished."""
    rows = conn.execute(
        "SELECT body FROM steps WHERE run_id = ? AND status = 'in_progress' ORDER BY seq",
        (run_id,),
    ).fetchall()
    return [json.loads(row[0]) for row in rows]


def get_step(conn: Conn, thread_id: str, run_id: str, step_id: str) -> dict[str, Any]:
    """The step, or 404."""
    step = load(conn, "steps", step_id)
    if step is None or step["run_id"] != run_id or step["thread_id"] != thread_id:
        raise not_found("run step", step_id)
    return step


def list_steps(conn: Conn, run_id: str, query: ListQuery) -> dict[str, Any]:
    """A page of the run's steps."""
    return list_page(conn, "steps", query, "run_id = ?", (run_id,))
