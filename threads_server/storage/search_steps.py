"""The `file_search` step of a run: one completed `tool_calls` step holding the run's searches."""

from __future__ import annotations

from typing import Any

from threadloom.threads_server.ids import now
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.runs import ZERO_USAGE, lock_run
from threadloom.threads_server.storage.steps import new_step, store_step


def record(conn: Conn, run_id: str, step_details: dict[str, Any]) -> dict[str, Any] | None:
    """Store `step_details` (`file_search.step_details`) as a completed step of the run; None unless
    the run is still `in_progress`. Result content is stored; reads leave it out unless `include[]`
    asks for it."""
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] != "in_progress":
        return None
    step = new_step(loaded[0], step_details)
    step.update(status="completed", completed_at=now(), usage=dict(ZERO_USAGE))
    store_step(conn, step)
    return step
