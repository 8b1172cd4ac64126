"""The transitions the runner makes: start, reply, require action, finish, and start-up recovery.

Every function checks the run's current status inside its transaction and returns None when the run
is no longer where the caller expected it (cancelled, expired, deleted meanwhile): whoever moved the
run owns it, and the caller simply stops.
"""

from __future__ import annotations

import json
from typing import Any

from threadloom.threads_server.expiry import is_due
from threadloom.threads_server.faults import RunFault, parse_run_fault
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage import threads as storage_threads
from threadloom.threads_server.storage.assistants import get_assistant
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.messages import (
    ACTIVE_RUN_STATUSES,
    new_message,
    save_message,
    store_message,
    thread_messages,
)
from threadloom.threads_server.storage.rows import load, lock_thread
from threadloom.threads_server.storage.runs import ZERO_USAGE, load_run, lock_run, save_run
from threadloom.threads_server.storage.steps import in_progress_steps, new_step, save_step, store_step

Objects = dict[str, Any]
STEP_STATUS = {"cancelled": "cancelled", "expired": "expired", "failed": "failed"}
STEP_TIME = {"cancelled": "cancelled_at", "expired": "expired_at", "failed": "failed_at"}
RUN_TIME = {
    "completed": "completed_at",
    "incomplete": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
}
MESSAGE_REASON = {"cancelled": "run_cancelled", "expired": "run_expired", "failed": "run_failed"}
RESTART_ERROR = {"code": "server_error", "message": "Run interrupted by a server restart."}
EXECUTING = ("queued", "in_progress")
"""Statuses in which a run's task is executing it (`requires_action` waits for the client)."""


def _usage_add(total: dict[str, int], extra: dict[str, int] | None) -> dict[str, int]:
    extra = extra or ZERO_USAGE
    return {key: total.get(key, 0) + extra.get(key, 0) for key in ZERO_USAGE}


def begin(conn: Conn, run_id: str) -> Objects | None:
    """`queued` → `in_progress` (sets `started_at` once)."""
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] != "queued":
        return None
    run, state = loaded
    run["status"] = "in_progress"
    run["started_at"] = run["started_at"] or now()
    save_run(conn, run, state, was="queued")
    return run


def context(conn: Conn, run_id: str) -> tuple[Objects, Objects, Objects | None, list[Objects]]:
    """`(run, state, assistant or None, thread messages)` for a responder."""
    loaded = load_run(conn, run_id)
    if loaded is None:
        raise LookupError(run_id)
    run, state = loaded
    assistant = load(conn, "assistants", run["assistant_id"])
    return run, state, assistant, thread_messages(conn, run["thread_id"])


def start_message(conn: Conn, run_id: str) -> tuple[Objects, Objects] | None:
    """Create the `message_creation` step and the (empty, in-progress) assistant message."""
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] != "in_progress":
        return None
    run = loaded[0]
    message = new_message(
        run["thread_id"],
        "assistant",
        [],
        status="in_progress",
        run_id=run["id"],
        assistant_id=run["assistant_id"],
    )
    step = new_step(run, {"type": "message_creation", "message_creation": {"message_id": message["id"]}})
    store_step(conn, step)
    store_message(conn, message)
    return step, message


def complete_reply(
    conn: Conn,
    run_id: str,
    step: Objects,
    message: Objects,
    text: str,
    usage: dict[str, int],
    incomplete_reason: str | None,
    annotations: list[Objects] | None = None,
) -> tuple[Objects, Objects, Objects] | None:
    """Fill the message (with its text's `annotations`), complete the step, and end the run
    `completed` or `incomplete`."""
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] != "in_progress":
        return None
    run, state = loaded
    stamp = now()
    state["usage"] = _usage_add(state["usage"], usage)
    message["content"] = [
        {"type": "text", "text": {"value": text, "annotations": list(annotations or [])}}
    ]
    if incomplete_reason:
        message.update(
            status="incomplete", incomplete_at=stamp, incomplete_details={"reason": "max_tokens"}
        )
    else:
        message.update(status="completed", completed_at=stamp)
    save_message(conn, message)
    step.update(status="completed", completed_at=stamp, usage=usage)
    save_step(conn, step)
    run["status"] = "incomplete" if incomplete_reason else "completed"
    run["incomplete_details"] = {"reason": incomplete_reason} if incomplete_reason else None
    run.update(completed_at=stamp, expires_at=None, usage=state["usage"])
    save_run(conn, run, state, was="in_progress")
    return message, step, run


def require_action(
    conn: Conn, run_id: str, calls: list[dict[str, str]], usage: dict[str, int]
) -> tuple[Objects, Objects] | None:
    """Record a `tool_calls` step and move the run to `requires_action`."""
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] != "in_progress":
        return None
    run, state = loaded
    tool_calls: list[Objects] = [
        {"id": new_id("call"), "type": "function", "function": dict(call)} for call in calls
    ]
    step = new_step(run, {"type": "tool_calls", "tool_calls": []})
    step["step_details"]["tool_calls"] = [
        {"id": c["id"], "type": "function", "function": {**c["function"], "output": None}}
        for c in tool_calls
    ]
    store_step(conn, step)
    state["usage"] = _usage_add(state["usage"], usage)
    state["rounds"].append(
        {
            "step_id": step["id"],
            "usage": usage,
            "calls": [{"id": c["id"], **c["function"], "output": None} for c in tool_calls],
        }
    )
    run["status"] = "requires_action"
    run["required_action"] = {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {"tool_calls": tool_calls},
    }
    save_run(conn, run, state, was="in_progress")
    return step, run


def finish(
    conn: Conn,
    run_id: str,
    status: str,
    *,
    from_statuses: tuple[str, ...] = ACTIVE_RUN_STATUSES,
    last_error: Objects | None = None,
    incomplete_details: Objects | None = None,
) -> tuple[Objects, list[Objects], list[Objects]] | None:
    """End an active run as `failed`, `cancelled`, `expired` (or `incomplete`).

    Returns the run and the steps and messages it closed, or None if the run was not in
    `from_statuses`.
    """
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] not in from_statuses:
        return None
    run, state = loaded
    stamp, was = now(), run["status"]
    run.update(status=status, expires_at=None, required_action=None, usage=state["usage"])
    run["last_error"] = last_error
    run["incomplete_details"] = incomplete_details
    if status in RUN_TIME:
        run[RUN_TIME[status]] = stamp
    save_run(conn, run, state, was=was)
    steps = in_progress_steps(conn, run_id)
    for step in steps:
        step["status"] = STEP_STATUS.get(status, "cancelled")
        step[STEP_TIME.get(status, "cancelled_at")] = stamp
        if status == "failed" and last_error:
            code = last_error["code"] if last_error["code"] != "invalid_prompt" else "server_error"
            step["last_error"] = {"code": code, "message": last_error["message"]}
        save_step(conn, step)
    messages = []
    for row in conn.execute(
        "SELECT body FROM messages WHERE thread_id = ? AND run_id = ?", (run["thread_id"], run_id)
    ).fetchall():
        message = json.loads(row[0])
        if message["status"] == "in_progress":
            message.update(
                status="incomplete",
                incomplete_at=stamp,
                incomplete_details={"reason": MESSAGE_REASON.get(status, "run_cancelled")},
            )
            save_message(conn, message)
            messages.append(message)
    return run, steps, messages


def interrupt(
    conn: Conn, run_id: str, error: Objects
) -> tuple[Objects, list[Objects], list[Objects]] | None:
    """End a run whose execution stopped: `cancelling` → `cancelled`, executing → `failed` (`error`)."""
    loaded = lock_run(conn, run_id)
    if loaded is None:
        return None
    if loaded[0]["status"] == "cancelling":
        return finish(conn, run_id, "cancelled", from_statuses=("cancelling",))
    return finish(conn, run_id, "failed", from_statuses=EXECUTING, last_error=dict(error))


def recover(conn: Conn) -> tuple[list[str], list[tuple[str, float]]]:
    """Start-up: end the runs a previous process was executing; find those waiting for outputs.

    Returns the ids of the interrupted runs, and `(run_id, expires_at)` of the `requires_action`
    runs, which nothing was executing: they keep waiting for their outputs until `expires_at`.
    """
    interrupted, waiting = [], []
    rows = conn.execute(
        "SELECT id, state FROM runs WHERE status IN (?, ?, ?, ?)", ACTIVE_RUN_STATUSES
    ).fetchall()
    for run_id, state in rows:
        if interrupt(conn, run_id, RESTART_ERROR) is not None:
            interrupted.append(run_id)
        else:
            waiting.append((run_id, float(json.loads(state)["deadline"])))
    return interrupted, waiting


def expire_if_due(
    conn: Conn, thread_id: str, run_id: str, at: float
) -> tuple[Objects, list[Objects], list[Objects]] | None:
    """Expire the thread's active run if its `expires_at` is at or before `at`; None otherwise."""
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["thread_id"] != thread_id:
        return None
    if not is_due(loaded[0]["expires_at"], at):
        return None
    return finish(conn, run_id, "expired")


def delete_thread(conn: Conn, thread_id: str) -> tuple[Objects, list[Objects]]:
    """Delete a thread; returns the deletion answer and the thread's runs that were active."""
    lock_thread(conn, thread_id)
    rows = conn.execute(
        "SELECT body FROM runs WHERE thread_id = ? AND status IN (?, ?, ?, ?)",
        (thread_id, *ACTIVE_RUN_STATUSES),
    ).fetchall()
    deleted = storage_threads.delete_thread(conn, thread_id)
    return deleted, [json.loads(row[0]) for row in rows]


def claim_fault(conn: Conn, thread_id: str, fault: str, times: int | None) -> bool:
    """Whether this run gets the fault: always without `times`, else for the first `times` runs."""
    if times is None:
        return True
    row = conn.execute(
        "SELECT used FROM fault_claims WHERE thread_id = ? AND fault = ?", (thread_id, fault)
    ).fetchone()
    used = row[0] if row else 0
    if used >= times:
        return False
    conn.execute(
        "INSERT INTO fault_claims (thread_id, fault, used) VALUES (?, ?, 1) "
        "ON CONFLICT (thread_id, fault) DO UPDATE SET used = fault_claims.used + 1",
        (thread_id, fault),
    )
    return True


def assistant_metadata(conn: Conn, assistant_id: str) -> dict[str, str]:
    """The assistant's metadata ({} if it was deleted)."""
    try:
        return dict(get_assistant(conn, assistant_id).get("metadata") or {})
    except Exception:
        return {}


def begin_with_fault(
    conn: Conn, run_id: str, faults_enabled: bool
) -> tuple[dict[str, Any], RunFault | None] | None:
    """Start the run and claim its fault in one transaction: a run seen `in_progress` has its fault."""
    run = begin(conn, run_id)
    if run is None or not faults_enabled:
        return None if run is None else (run, None)
    fault = parse_run_fault(run.get("metadata") or {}, assistant_metadata(conn, run["assistant_id"]))
    if fault is None or not claim_fault(conn, run["thread_id"], fault.raw, fault.times):
        return run, None
    return run, fault
