"""When each run reached a terminal status, in milliseconds: `completed_at` has whole seconds only.

Benchmarks measure completion lag (run finished on the server → result in the caller's hands) and need
the server's own moment of the terminal transition at millisecond precision. The record is in memory,
bounded to the most recent runs, and read through `GET /_threadloom/runs/{run_id}/finished`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

MAX_RUNS = 100_000
"""Oldest entries are forgotten beyond this many runs."""


class FinishTimes:
    """Terminal status and Unix time in ms (wall clock) of recently finished runs."""

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self._max_runs = max_runs
        self._finished: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def record(self, run_id: str, status: str) -> None:
        """Note that `run_id` reached terminal `status` now."""
        self._finished[run_id] = (status, time.time() * 1000)
        self._finished.move_to_end(run_id)
        while len(self._finished) > self._max_runs:
            self._finished.popitem(last=False)

    def get(self, run_id: str) -> dict[str, Any] | None:
        """`{"id", "status", "finished_at_ms"}` of a finished run, or None if unknown or active."""
        found = self._finished.get(run_id)
        if found is None:
            return None
        status, at_ms = found
        return {"id": run_id, "status": status, "finished_at_ms": at_ms}
