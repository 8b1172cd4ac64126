"""In-process publish/subscribe of run events: the source of SSE streams and of the long-poll.

The runner publishes every stream event of a run (`thread.run.*`, `thread.run.step.*`,
`thread.message.*`) after the matching write has committed. Subscribers get their own queue, so a slow
stream never holds up the run.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

TERMINAL_RUN_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})


@dataclass(frozen=True)
class Event:
    """One stream event: `event` name and `data` (the JSON object)."""

    event: str
    data: dict[str, Any]

    @property
    def ends_stream(self) -> bool:
        """A terminal run event or `requires_action`: the SSE stream ends after it."""
        if not self.event.startswith("thread.run.") or self.event.startswith("thread.run.step"):
            return False
        status = self.event.removeprefix("thread.run.")
        return status in TERMINAL_RUN_STATUSES or status == "requires_action"


class Subscription:
    """A queue of one run's events; close it (or use it as a context manager) when done."""

    def __init__(self, hub: RunEvents, run_id: str) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self._hub = hub
        self._run_id = run_id

    def close(self) -> None:
        """Stop receiving events."""
        self._hub._remove(self._run_id, self.queue)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class RunEvents:
    """Fan-out of events per run id."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    def subscribe(self, run_id: str) -> Subscription:
        """Receive the run's events published from now on."""
        subscription = Subscription(self, run_id)
        self._queues[run_id].add(subscription.queue)
        return subscription

    def _remove(self, run_id: str, queue: asyncio.Queue[Event]) -> None:
        queues = self._queues.get(run_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[run_id]

    def publish(self, run_id: str, event: str, data: dict[str, Any]) -> None:
        """Deliver an event to every current subscriber of `run_id`."""
        for queue in self._queues.get(run_id, ()):
            queue.put_nowait(Event(event, data))
