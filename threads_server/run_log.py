"""The retained, numbered events of recent runs: what makes a run's event stream re-attachable.

`RunEvents` appends every event it publishes (or is delivered from another replica) to the run's log
here and numbers it (`Event.seq`, from 1). A reader of `GET …/runs/{run_id}/events?after=N` gets the
logged events after N, then the live ones, with no gap and none twice: taking the logged ones and
subscribing happen in one step of the event loop, and publishing never awaits in between.

The log is memory only and bounded: the newest `max_runs` runs, each up to `max_events` events
(past that a run's later events are live only, and its stream says so). After a restart, or for a
run evicted since, the events are gone; the stream answers 410 and a reader falls back to the run's
messages.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from threadloom.threads_server.events import Event

DEFAULT_MAX_RUNS = 2000
DEFAULT_MAX_EVENTS = 20_000


class RunLog:
    """Per-run append-only lists of events, the least recently written runs evicted first."""

    def __init__(self, max_runs: int = DEFAULT_MAX_RUNS, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_runs = max(1, max_runs)
        self.max_events = max(1, max_events)
        self._runs: OrderedDict[str, list[Event]] = OrderedDict()
        self._full: set[str] = set()
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def waiter(self, thread_id: str) -> asyncio.Event:
        """An event set when a run is next created on the thread (`forget` it when done)."""
        waiter = asyncio.Event()
        self._waiting.setdefault(thread_id, set()).add(waiter)
        return waiter

    def forget(self, thread_id: str, waiter: asyncio.Event) -> None:
        """Stop telling `waiter` of new runs."""
        waiters = self._waiting.get(thread_id)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiting[thread_id]

    def append(self, run_id: str, event: Event) -> None:
        """Log `event` as the run's next one (numbering it), unless the run's log is full."""
        if event.event == "thread.run.created" and self._waiting:
            thread_id = event.data.get("thread_id")
            for waiter in self._waiting.get(thread_id, ()):
                waiter.set()
        events = self._runs.get(run_id)
        if events is None:
            events = self._runs[run_id] = []
            while len(self._runs) > self.max_runs:
                evicted, _ = self._runs.popitem(last=False)
                self._full.discard(evicted)
        else:
            self._runs.move_to_end(run_id)
        if len(events) >= self.max_events:
            self._full.add(run_id)
            return
        event.seq, event.at = len(events) + 1, time.time()
        events.append(event)

    def since(self, run_id: str, after: int) -> list[Event] | None:
        """The run's logged events numbered above `after`; None if nothing of the run is logged."""
        events = self._runs.get(run_id)
        if events is None:
            return None
        return events[max(0, after) :]

    def length(self, run_id: str) -> int:
        """How many of the run's events are logged (0 if none)."""
        return len(self._runs.get(run_id, ()))

    def complete(self, run_id: str) -> bool:
        """Whether every event of the run so far is logged (none were past `max_events`)."""
        return run_id not in self._full
