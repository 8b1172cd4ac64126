"""Expiry timers: one per active run, firing when the wall clock reaches the run's `expires_at`.

`expires_at` is the only clock: the timer is armed for `expires_at - time.time()` and re-checks the
wall clock when it fires (the event loop's timers run on the monotonic clock, which may drift from
it), and `submit_tool_outputs` refuses outputs from `expires_at` on, so a run still waiting at
`expires_at` can only become `expired`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def is_due(expires_at: float | None, at: float | None = None) -> bool:
    """Whether a run with this `expires_at` has expired at `at` (default: now)."""
    return expires_at is not None and (time.time() if at is None else at) >= expires_at


class Expiries:
    """Timers calling `on_due(run_id)` at each armed run's `expires_at`."""

    def __init__(self, on_due: Callable[[str], None]) -> None:
        self._on_due = on_due
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._timers)

    def arm(self, run_id: str, expires_at: float) -> None:
        """Call `on_due(run_id)` once the wall clock reaches `expires_at` (at once if it has)."""
        self.stop(run_id)
        delay = max(0.0, expires_at - time.time())
        self._timers[run_id] = asyncio.get_running_loop().call_later(
            delay, self._fire, run_id, expires_at
        )

    def _fire(self, run_id: str, expires_at: float) -> None:
        if not is_due(expires_at):
            self.arm(run_id, expires_at)  # the loop's clock ran ahead of the wall clock
            return
        self._timers.pop(run_id, None)
        self._on_due(run_id)

    def stop(self, run_id: str) -> None:
        """Disarm the run's timer, if any."""
        handle = self._timers.pop(run_id, None)
        if handle is not None:
            handle.cancel()

    def stop_all(self) -> None:
        """Disarm every timer."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
