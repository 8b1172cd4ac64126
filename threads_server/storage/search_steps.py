"""The `file_search` step of a run: one completed `tool_calls` step holding a round's searches.

A run is executed again from the start of its current round when another replica takes it over
(`replicas.py`); its searches are then made again, and the step recorded by the lost execution is
replaced rather than kept beside the new one. A round is what follows the run's last function-call
step, so the search steps of earlier rounds stay.
"""

from __future__ import annotations

import json
from typing import Any

from threadloom.threads_server.ids import now
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.runs import ZERO_USAGE, lock_run, save_run
from threadloom.threads_server.storage.steps import new_step, store_step


def _calls(step: dict[str, Any]) -> list[str]:
    details = step.get("step_details") or {}
    return [call.get("type", "") for call in details.get("tool_calls") or []]


def _this_rounds_search_steps(conn: Conn, run_id: str) -> list[str]:
    rows = conn.execute("SELECT id, body FROM steps WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
    found: list[str] = []
    for step_id, body in rows:
        calls = _calls(json.loads(body))
        if "function" in calls:
            found = []  # a new round starts after each function-call step
        elif calls and all(kind == "file_search" for kind in calls):
            found.append(str(step_id))
    return found


def stream_content(conn: Conn, run_id: str) -> None:
    """Remember that the run's creator asked for result content (`include[]` on create run): the
    run's streamed step events then carry it."""
    loaded = lock_run(conn, run_id)
    if loaded is None:
        return
    run, state = loaded
    state["include_search_content"] = True
    save_run(conn, run, state, was=run["status"])


def record(conn: Conn, run_id: str, step_details: dict[str, Any]) -> dict[str, Any] | None:
    """Store `step_details` (`file_search.step_details`) as a completed step of the run, in place of
    one an earlier execution of this round recorded; None unless the run is still `in_progress`.
    Result content is stored; reads leave it out unless `include[]` asks for it."""
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] != "in_progress":
        return None
    for stale in _this_rounds_search_steps(conn, run_id):
        conn.execute("DELETE FROM steps WHERE id = ?", (stale,))
    step = new_step(loaded[0], step_details)
    step.update(status="completed", completed_at=now(), usage=dict(ZERO_USAGE))
    store_step(conn, step)
    return step
