"""Run events between replicas: PostgreSQL `LISTEN/NOTIFY` feeding each replica's `RunEvents` hub.

```
replica A: runner ─► RunEvents.publish ─► A's subscribers
                          └─ relay ─► send queue ─► NOTIFY threadloom_run_events ─┐   (one connection,
replica B: RunEvents.deliver ◄─ listener ◄─ LISTEN threadloom_run_events ◄────────┘    batches in order)
               └─► B's long-polls and SSE streams wake at once, as for a local run
```
A long-poll or a stream on replica B for a run that replica A executes thus wakes within the time
of one NOTIFY (about a millisecond on one host), not at a polling interval; `long_poll` and
`streaming` do not know where their run executes. The publisher delivers to its own subscribers
directly and skips its own notifications (each carries the sender's replica id).

A notification's payload is `{"o": replica, "n": sequence, "r": run_id, "e": event, "g": gone, "d":
data}`; the sequence keeps two equal deltas in one batch apart (PostgreSQL folds identical payloads
of one transaction into one). PostgreSQL caps a payload below 8,000 bytes: a larger event is written to
`run_event_spill` in the same transaction and its notification carries only the row's `s` (seq),
which the receivers read back; rows older than `SPILL_RETENTION_SECONDS` are purged.

Text deltas are coalesced: while the sender is busy, consecutive `thread.message.delta` events of one
message wait in the outbox as one delta whose text grows (the SDKs append delta texts, so a reader
elsewhere sees the same message in fewer, larger pieces). A reply of 20,000 deltas thus costs a few
notifications per round trip to the database instead of one per word, and never slows its run.

Control notifications (`{"o", "n", "k": kind}`) carry no event: `free` says a replica released runs
(graceful shutdown), so the others claim them now instead of at their next sweep.

If a connection breaks (the database restarted), it reconnects with a backoff; the sender sends its
unsent batch again, but events other replicas sent meanwhile are lost to this listener: its
long-polls answer at the end of their wait, as with any missed wake-up, and its streams of remote
runs may stay silent until they are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from threadloom.threads_server.events import Event, RunEvents, encode
from threadloom.threads_server.run_events import message_delta
from threadloom.threads_server.storage import Conn, Database

log = logging.getLogger("threads_server.replica_events")
CHANNEL = "threadloom_run_events"
MAX_PAYLOAD_BYTES = 7900
SPILL_RETENTION_SECONDS = 120.0
RECONNECT_MAX_SECONDS = 5.0
NOTIFY_BATCH = "SELECT pg_notify(%s, x) FROM unnest(%s::text[]) AS t(x)"

RemoteEvent = Callable[[str, Event], None]
Control = Callable[[str], None]


@dataclass
class _TextDelta:
    """Consecutive text deltas of one message, waiting to be sent as one."""

    run_id: str
    message_id: str
    chunks: list[str] = field(default_factory=list)

    def body(self) -> str:
        data = encode(message_delta(self.message_id, "".join(self.chunks)))
        head = json.dumps({"r": self.run_id, "e": "thread.message.delta", "g": 0})
        return f'{head[:-1]}, "d": {data}}}'


def _text_chunk(event: Event, data: Any) -> tuple[str, str] | None:
    """`(message_id, text)` of a plain text delta (the runner's), else None."""
    if event.event != "thread.message.delta" or not isinstance(data, dict):
        return None
    parts = data.get("delta", {}).get("content") or []
    if len(data.get("delta", {})) != 1 or len(parts) != 1:
        return None
    part = parts[0]
    if part.get("index") != 0 or part.get("type") != "text" or part["text"].get("annotations"):
        return None
    return str(data["id"]), str(part["text"]["value"])


def read_spill(conn: Conn, seq: int) -> str | None:
    """The payload of one spilled event (None once purged)."""
    row = conn.execute("SELECT payload FROM run_event_spill WHERE seq = ?", (seq,)).fetchone()
    return str(row[0]) if row else None


def purge_spill(conn: Conn, before: float) -> int:
    """Delete spilled events written before `before`; how many."""
    return conn.execute("DELETE FROM run_event_spill WHERE created_at < ?", (before,)).rowcount


class ReplicaEvents:
    """Relays this replica's run events to the others and delivers theirs into the local hub."""

    def __init__(
        self,
        url: str,
        db: Database,
        hub: RunEvents,
        replica_id: str,
        *,
        on_event: RemoteEvent,
        on_control: Control,
    ) -> None:
        self._url = url
        self._db = db
        self._hub = hub
        self._me = replica_id
        self._on_event = on_event
        self._on_control = on_control
        self._outbox: list[str | _TextDelta] = []
        self._unsent = 0
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        self._seq = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self.received = 0
        """Notifications from other replicas delivered here (since start-up)."""

    async def start(self) -> None:
        """Start listening (returns once LISTEN is in place) and relaying the hub's events."""
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="replica events: listen"),
            asyncio.create_task(self._send_forever(), name="replica events: send"),
        ]
        self._hub.relay = self._relay
        await self._listening.wait()

    async def close(self) -> None:
        """Send what is queued (briefly), then stop both connections."""
        self._hub.relay = None
        with contextlib.suppress(TimeoutError):
            await self.flush(2.0)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def flush(self, seconds: float) -> None:
        """Wait until everything relayed so far has been sent (TimeoutError after `seconds`)."""
        async with asyncio.timeout(seconds):
            while self._unsent:
                self._sent.clear()
                await self._sent.wait()

    def control(self, kind: str) -> None:
        """Tell the other replicas something that carries no event (`free`)."""
        self._queue({"k": kind})

    # -- sending ------------------------------------------------------------------------------

    def _relay(self, run_id: str, event: Event, data: Any) -> None:
        chunk = _text_chunk(event, data)
        if chunk is not None:
            last = self._outbox[-1] if self._outbox else None
            if isinstance(last, _TextDelta) and (last.run_id, last.message_id) == (run_id, chunk[0]):
                last.chunks.append(chunk[1])
                return
            self._queue_entry(_TextDelta(run_id, chunk[0], [chunk[1]]))
            return
        head = json.dumps({"r": run_id, "e": event.event, "g": int(event.gone)})
        self._queue_entry(f'{head[:-1]}, "d": {event.payload}}}')

    def _queue(self, fields: dict[str, Any]) -> None:
        self._queue_entry(json.dumps(fields))

    def _queue_entry(self, entry: str | _TextDelta) -> None:
        self._outbox.append(entry)
        self._unsent += 1
        self._wake.set()

    def _payload(self, entry: str | _TextDelta) -> str:
        # A JSON object; the sender's id and a sequence number go in front.
        body = entry.body() if isinstance(entry, _TextDelta) else entry
        self._seq += 1
        return f'{{"o": "{self._me}", "n": {self._seq}, {body[1:]}'

    async def _send_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    delay = 0.1
                    if self._outbox:
                        self._wake.set()  # what failed to go out before the reconnect
                    while True:
                        await self._wake.wait()
                        self._wake.clear()
                        batch, self._outbox = self._outbox, []
                        if batch:
                            try:
                                await self._send(conn, batch)
                            except BaseException:
                                self._outbox[:0] = batch  # sent again after the reconnect
                                raise
                            self._unsent -= len(batch)
                        self._sent.set()
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                log.warning("replica events: sending failed (%s); reconnecting", type(exc).__name__)
                self._sent.set()
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)

    async def _send(self, conn: psycopg.AsyncConnection[Any], batch: list[str | _TextDelta]) -> None:
        texts = [self._payload(entry) for entry in batch]
        if all(len(text.encode()) <= MAX_PAYLOAD_BYTES for text in texts):
            await conn.execute(NOTIFY_BATCH, (CHANNEL, texts))  # one statement, one round trip
            return
        async with conn.transaction():
            for index, text in enumerate(texts):
                if len(text.encode()) > MAX_PAYLOAD_BYTES:
                    cursor = await conn.execute(
                        "INSERT INTO run_event_spill (payload, created_at) VALUES (%s, %s)"
                        " RETURNING seq",
                        (text, time.time()),
                    )
                    row = await cursor.fetchone()
                    assert row is not None
                    texts[index] = json.dumps({"o": self._me, "s": int(row[0])})
            await conn.execute(NOTIFY_BATCH, (CHANNEL, texts))

    # -- receiving ----------------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    delay = 0.1
                    async for notify in conn.notifies():
                        await self._receive(notify.payload)
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                log.warning("replica events: listening failed (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)

    async def _receive(self, payload: str) -> None:
        try:
            fields = json.loads(payload)
            if fields.get("o") == self._me:
                return
            if "s" in fields:
                spilled = await self._db.run(read_spill, int(fields["s"]))
                if spilled is None:
                    return
                fields = json.loads(spilled)
            self.received += 1
            if "k" in fields:
                self._on_control(str(fields["k"]))
                return
            event = Event.encoded(fields["e"], encode(fields["d"]), gone=bool(fields["g"]))
            self._hub.deliver(fields["r"], event)
            self._on_event(fields["r"], event)
        except Exception:
            log.exception("replica events: cannot deliver a notification")
