"""Runs: create (thread lock, additional messages), retrieve, list, modify, cancel, submit outputs.

A run row keeps the wire object in `body` and the server's private bookkeeping in `state`:
`deadline` (the run's `expires_at`, kept after the body's is cleared), `usage` (accumulated over
rounds), and `rounds`, the tool-call rounds of the run with their outputs once submitted.
"""

from __future__ import annotations

import json
import math
from typing import Any

from threadloom.threads_server.errors import APIError, not_found
from threadloom.threads_server.expiry import is_due
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage.assistants import get_assistant
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.errors import WriteConflict
from threadloom.threads_server.storage.messages import (
    ACTIVE_RUN_STATUSES,
    active_run_id,
    insert_message,
)
from threadloom.threads_server.storage.rows import ListQuery, insert, list_page, lock_thread
from threadloom.threads_server.storage.steps import load_step, save_step
from threadloom.threads_server.storage.threads import create_thread, get_thread
from threadloom.threads_server.wire_json import encode_text

ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def load_run(conn: Conn, run_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """`(run, state)` or None."""
    row = conn.execute("SELECT body, state FROM runs WHERE id = ?", (run_id,)).fetchone()
    return (json.loads(row[0]), json.loads(row[1])) if row else None


def lock_run(conn: Conn, run_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """`(run, state)` or None, with the run's thread locked for the rest of the transaction."""
    row = conn.execute("SELECT thread_id FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    lock_thread(conn, str(row[0]))
    return load_run(conn, run_id)


def save_run(conn: Conn, run: dict[str, Any], state: dict[str, Any], *, was: str) -> None:
    """Overwrite the run's body, status and state if its status is still `was` (compare-and-set).

    WriteConflict otherwise: the transaction is run again and sees whoever moved the run first.
    """
    updated = conn.execute(
        "UPDATE runs SET body = ?, status = ?, state = ? WHERE id = ? AND status = ?",
        (encode_text(run), run["status"], encode_text(state), run["id"], was),
    ).rowcount
    if updated != 1:
        raise WriteConflict(f"run {run['id']} is no longer {was}")


def _new_run(
    thread_id: str, assistant: dict[str, Any], fields: dict[str, Any], expiry_seconds: float
) -> dict[str, Any]:
    created = now()
    instructions = fields.get("instructions")
    if instructions is None:
        instructions = assistant.get("instructions") or ""
    if fields.get("additional_instructions"):
        extra = fields["additional_instructions"]
        instructions = f"{instructions}\n\n{extra}" if instructions else extra

    def pick(key: str, default: Any) -> Any:
        value = fields.get(key)
        if value is None:
            value = assistant.get(key)
        return default if value is None else value

    return {
        "id": new_id("run"),
        "object": "thread.run",
        "created_at": created,
        "thread_id": thread_id,
        "assistant_id": assistant["id"],
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": created + math.ceil(expiry_seconds),
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": pick("model", ""),
        "instructions": instructions,
        "tools": pick("tools", []),
        "metadata": fields.get("metadata") or {},
        "usage": None,
        "temperature": pick("temperature", 1.0),
        "top_p": pick("top_p", 1.0),
        "max_prompt_tokens": fields.get("max_prompt_tokens"),
        "max_completion_tokens": fields.get("max_completion_tokens"),
        "truncation_strategy": fields.get("truncation_strategy")
        or {"type": "auto", "last_messages": None},
        "tool_choice": fields.get("tool_choice") or "auto",
        "parallel_tool_calls": fields.get("parallel_tool_calls", True) is not False,
        "response_format": pick("response_format", "auto"),
    }


def create_run(
    conn: Conn, thread_id: str, fields: dict[str, Any], expiry_seconds: float
) -> dict[str, Any]:
    """Create a queued run (and its `additional_messages`) unless the thread is locked."""
    lock_thread(conn, thread_id)
    get_thread(conn, thread_id)
    assistant = get_assistant(conn, fields["assistant_id"])
    active = active_run_id(conn, thread_id)
    if active is not None:
        raise APIError(f"Thread {thread_id} already has an active run {active}.")
    for message in fields.get("additional_messages") or []:
        insert_message(conn, thread_id, message)
    run = _new_run(thread_id, assistant, fields, expiry_seconds)
    state = {"deadline": run["expires_at"], "usage": dict(ZERO_USAGE), "rounds": []}
    insert(conn, "runs", run, thread_id=thread_id, status=run["status"], state=encode_text(state))
    return run


def create_thread_and_run(
    conn: Conn,
    thread_fields: dict[str, Any],
    run_fields: dict[str, Any],
    expiry_seconds: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a thread and a run on it in one transaction."""
    get_assistant(conn, run_fields["assistant_id"])
    thread = create_thread(conn, thread_fields)
    return thread, create_run(conn, thread["id"], run_fields, expiry_seconds)


def get_run(conn: Conn, thread_id: str, run_id: str) -> dict[str, Any]:
    """The run, or 404."""
    get_thread(conn, thread_id)
    loaded = load_run(conn, run_id)
    if loaded is None or loaded[0]["thread_id"] != thread_id:
        raise not_found("run", run_id)
    return loaded[0]


def list_runs(conn: Conn, thread_id: str, query: ListQuery) -> dict[str, Any]:
    """A page of the thread's runs."""
    get_thread(conn, thread_id)
    return list_page(conn, "runs", query, "thread_id = ?", (thread_id,))


def modify_run(conn: Conn, thread_id: str, run_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Replace the run's metadata."""
    lock_thread(conn, thread_id)
    run = get_run(conn, thread_id, run_id)
    _, state = load_run(conn, run_id) or (run, {})
    if "metadata" in fields:
        run["metadata"] = fields["metadata"] or {}
    save_run(conn, run, state, was=run["status"])
    return run


def request_cancel(conn: Conn, thread_id: str, run_id: str) -> dict[str, Any]:
    """Move an active run to `cancelling` (idempotent while cancelling)."""
    lock_thread(conn, thread_id)
    run = get_run(conn, thread_id, run_id)
    if run["status"] not in ACTIVE_RUN_STATUSES:
        raise APIError(f"Cannot cancel run with status '{run['status']}'.")
    if run["status"] != "cancelling":
        _, state = load_run(conn, run_id) or (run, {})
        was, run["status"] = run["status"], "cancelling"
        save_run(conn, run, state, was=was)
    return run


def submit_tool_outputs(
    conn: Conn, thread_id: str, run_id: str, outputs: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Record the outputs of the pending tool calls; the run goes back to `queued`.

    From `expires_at` on the run is expired, even if its timer has not moved it there yet.
    """
    lock_thread(conn, thread_id)
    run = get_run(conn, thread_id, run_id)
    status = "expired" if is_due(run["expires_at"]) else run["status"]
    if status != "requires_action":
        raise APIError(f'Runs in status "{status}" do not accept tool outputs.')
    _, state = load_run(conn, run_id) or (run, {})
    pending = state["rounds"][-1]
    expected = [call["id"] for call in pending["calls"]]
    given = {item["tool_call_id"]: item["output"] for item in outputs}
    if sorted(given) != sorted(expected) or len(given) != len(outputs):
        raise APIError(
            f"Expected tool outputs for call_ids {expected}, got {[*given]}.",
            param="tool_outputs",
        )
    for call in pending["calls"]:
        call["output"] = given[call["id"]]
    step = load_step(conn, pending["step_id"])
    if step is not None:
        for item in step["step_details"]["tool_calls"]:
            item["function"]["output"] = given[item["id"]]
        step["status"] = "completed"
        step["completed_at"] = now()
        step["usage"] = pending.get("usage") or dict(ZERO_USAGE)
        save_step(conn, step)
    run["status"] = "queued"
    run["required_action"] = None
    save_run(conn, run, state, was="requires_action")
    return run, step
