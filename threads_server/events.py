"""In-process publish/subscribe of run events: the source of SSE streams and of the long-poll.

The runner publishes every stream event of a run (`thread.run.*`, `thread.run.step.*`,
`thread.message.*`) after the matching write has committed. An event is encoded to JSON when it is
published: the runner goes on changing the dicts it published (a message gets its text, a step
completes), and a stream that serialized them later would show a `created` event in its final state.

Each subscriber has its own queue, so a slow stream never holds up other streams. The queue is
bounded softly: lifecycle events are always enqueued (a run has a handful), and before each message
delta the runner awaits `room()`, which waits for full queues to drain for up to `stall_seconds`, then
drops the stalled subscriber with an `error` event. A slow reader thus slows its run's deltas a little,
and a stopped reader costs at most `max_events` queued events.

Across replicas (PostgreSQL), `relay` is set (`replica_events.ReplicaEvents`): every published event
is also handed to it, encoded, to reach the other replicas through `NOTIFY`, and what they publish
arrives here through `deliver`. A remote run's deltas cannot wait for a slow local reader, so a
reader that is `max_events` behind when a remote delta arrives is dropped at once.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from threadloom.threads_server.wire_json import encode_text

if TYPE_CHECKING:
    from threadloom.threads_server.run_log import RunLog

TERMINAL_RUN_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
DEFAULT_MAX_EVENTS = 1000
DEFAULT_STALL_SECONDS = 10.0


def encode(data: Any) -> str:
    """The one-line JSON text of an event's data (the server's one encoder, `wire_json`)."""
    return encode_text(data)


def error_data(message: str, code: str, error_type: str = "server_error") -> dict[str, Any]:
    """The data of an `error` event: `{"error": {...}}`, which makes the official SDKs raise."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _is_run_event(event: str) -> bool:
    return event.startswith("thread.run.") and not event.startswith("thread.run.step")


class Event:
    """One stream event: `event` name and its data, frozen as JSON text when created.

    `gone` marks the final event of a run whose thread was deleted: a long-poll answers 404 on it.
    """

    __slots__ = ("at", "event", "gone", "payload", "seq")

    def __init__(self, event: str, data: Any, *, gone: bool = False) -> None:
        self.event = event
        self.payload = encode(data)
        self.gone = gone
        self.seq = 0  # its number in the run's retained log (`run_log.RunLog`), once logged
        self.at = 0.0  # and when it was logged (Unix seconds)

    @classmethod
    def encoded(cls, event: str, payload: str, *, gone: bool = False) -> Event:
        """An event whose data is already JSON text (one relayed from another replica)."""
        made = cls.__new__(cls)
        made.event, made.payload, made.gone, made.seq, made.at = event, payload, gone, 0, 0.0
        return made

    @property
    def data(self) -> Any:
        """A fresh copy of the data as it was when the event was published."""
        return json.loads(self.payload)

    @property
    def is_run(self) -> bool:
        """A `thread.run.<status>` event (not a step event), whose data is the run."""
        return _is_run_event(self.event)

    @property
    def ends_stream(self) -> bool:
        """A terminal run event, `requires_action` or `error`: the SSE stream ends after it."""
        if self.event == "error":
            return True
        if not self.is_run:
            return False
        status = self.event.removeprefix("thread.run.")
        return status in TERMINAL_RUN_STATUSES or status == "requires_action"


class Subscription:
    """A queue of one run's events; close it (or use it as a context manager) when done."""

    def __init__(self, hub: RunEvents, run_id: str, runs_only: bool, stalls: bool = True) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.runs_only = runs_only
        self.stalls = stalls
        """False for a re-attachable run event stream: dropped when full, never waited for."""
        self.dropped = False
        self._hub = hub
        self._run_id = run_id
        self._room = asyncio.Event()

    async def get(self) -> Event:
        """The next event (waits for one)."""
        event = await self.queue.get()
        if self.queue.qsize() < self._hub.max_events:
            self._room.set()
        return event

    def wants(self, event: str) -> bool:
        """Whether this subscription takes events named `event` (`runs_only`: run objects only).

        A published `error` (a run taken over or handed over, `replicas.py`) ends streams, whose
        announced reply is replaced; a long-poll waits on, since the run's status did not change.
        (An `error` that ends a long-poll, at shutdown, is put in by `drop`.)
        """
        return not self.runs_only or _is_run_event(event)

    @property
    def full(self) -> bool:
        """Whether the reader is `max_events` behind."""
        return self.queue.qsize() >= self._hub.max_events

    async def wait_for_room(self, seconds: float) -> bool:
        """Wait until the queue is below its bound; False if it stayed full for `seconds`."""
        while self.full:
            self._room.clear()
            try:
                async with asyncio.timeout(seconds):
                    await self._room.wait()
            except TimeoutError:
                return False
        return True

    def drop(self, data: dict[str, Any], *, discard: bool = True) -> None:
        """Unsubscribe and end the reader's queue with an `error` event (after what is queued,
        unless `discard`)."""
        self.close()
        self.dropped = True
        while discard and not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(Event("error", data))

    def close(self) -> None:
        """Stop receiving events."""
        self._hub._remove(self._run_id, self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class RunEvents:
    """Fan-out of events per run id, with bounded subscriber queues."""

    def __init__(
        self, max_events: int = DEFAULT_MAX_EVENTS, stall_seconds: float = DEFAULT_STALL_SECONDS
    ) -> None:
        self.max_events = max(1, max_events)
        self.stall_seconds = stall_seconds
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self.relay: Callable[[str, Event, Any], None] | None = None
        """Also called with every published event (the other replicas' share of it), if set."""
        self.log: RunLog | None = None
        """Keeps every event published or delivered here, numbered, if set (`run_log`)."""

    def subscribe(self, run_id: str, *, runs_only: bool = False, stalls: bool = True) -> Subscription:
        """Receive the run's events published from now on (`runs_only`: only run objects;
        `stalls=False`: a full queue drops the subscriber instead of holding up the run)."""
        subscription = Subscription(self, run_id, runs_only, stalls)
        self._subscribers[run_id].add(subscription)
        return subscription

    @property
    def subscriber_count(self) -> int:
        """Open subscriptions over all runs (streams and long-polls in progress)."""
        return sum(len(subs) for subs in self._subscribers.values())

    def _remove(self, run_id: str, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[run_id]

    def publish(self, run_id: str, event: str, data: Any, *, gone: bool = False) -> None:
        """Deliver a snapshot of `data` to every current subscriber of `run_id`."""
        # Encoded only if someone takes it: a long-poll alone does not pay for every delta.
        wanted = [sub for sub in self._subscribers.get(run_id, ()) if sub.wants(event)]
        if wanted or self.relay is not None or self.log is not None:
            frozen = Event(event, data, gone=gone)
            if self.log is not None:
                self.log.append(run_id, frozen)
            for subscription in wanted:
                if not subscription.stalls and subscription.full:
                    subscription.drop(self._too_slow())
                    continue
                subscription.queue.put_nowait(frozen)
            if self.relay is not None:
                self.relay(run_id, frozen, data)

    def deliver(self, run_id: str, event: Event) -> None:
        """Hand an event another replica published to this replica's subscribers of `run_id`."""
        if self.log is not None:
            self.log.append(run_id, event)
        for subscription in list(self._subscribers.get(run_id, ())):
            if not subscription.wants(event.event):
                continue
            if subscription.full and event.event.endswith(".delta"):
                subscription.drop(self._too_slow())
                continue
            subscription.queue.put_nowait(event)

    def _too_slow(self) -> dict[str, Any]:
        return error_data(
            f"The stream fell more than {self.max_events} events behind for "
            f"{self.stall_seconds:g} s and was closed; the run goes on, retrieve it.",
            "stream_reader_too_slow",
        )

    async def room(self, run_id: str) -> None:
        """Wait while a subscriber of `run_id` is `max_events` behind; drop it after the stall."""
        for subscription in list(self._subscribers.get(run_id, ())):
            if not subscription.stalls:
                continue  # it re-attaches from its last event if dropped: never waited for
            if subscription.full and not await subscription.wait_for_room(self.stall_seconds):
                subscription.drop(self._too_slow())

    def close_all(self, data: dict[str, Any]) -> None:
        """End every subscription with an `error` event after what it has queued (shutdown)."""
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.drop(data, discard=False)
