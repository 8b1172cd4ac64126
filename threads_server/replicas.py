"""Run execution across replicas (PostgreSQL): leases, their renewal, takeover and hand-over.

Any replica may execute any run. The runner claims a run before it executes it (`leases.claim`: the
replica id and a lease expiry, a compare-and-set in one transaction) and every transition it makes
re-checks the lease (`leases.as_owner`). While the run executes, this replica renews its leases every
third of `replica_lease_seconds`. Every replica sweeps the table every `sweep_seconds` (and at once
when another replica announces released runs) for executing runs nobody holds a live lease on, and
claims them; it also expires active runs past `expires_at` whose replica is gone.

**Takeover: the run is executed again from the start.** That is safe in every executing status,
because everything a run shows is written atomically with the transition that shows it:
- `queued` / `in_progress` before a reply: nothing was written; the responder runs again.
- `in_progress` with a reply under way: the reply's text is written only when it completes, so what
  exists is an empty `in_progress` assistant message and its step. They are deleted and the reply is
  written again, so the thread ends with exactly one reply.
- after a tool call was handed out: the run was `requires_action`, which nothing executes (no lease);
  the outputs, once submitted on any replica, are stored with the run before it is `queued` again,
  so a re-execution gives the responder the same calls and outputs.
- `cancelling`: the new owner ends it `cancelled`.
The one case where re-running is not safe is a run that takes its replica down with it (a poison
run: a model answer that exhausts memory, say): after `MAX_TAKEOVERS` lost executions the run fails
with `server_error` instead of taking down one replica after another.

A run re-executed after a takeover gets no injected fault (`--faults`): its first execution claimed it.

**Streams.** A stream on another replica of a run whose executor died has seen an assistant message
announced (perhaps with some deltas) that the takeover deletes: when the new owner takes the run
over it publishes an `error` event (`run_executor_lost`) to every replica, which ends such streams
(the official SDKs raise it as an API error; retrieve the run to follow it). A long-poll on it goes
on waiting, its run's status did not change. Streams that were served by the dead replica itself
lose their connection with it. A stream sees the takeover about `replica_lease_seconds` after the
replica died.

**Graceful shutdown (SIGTERM).** The replica stops claiming, lets executing runs finish for up to
`shutdown_grace_seconds`, then hands the rest over: it stops them, drops their partial output and
lease (`leases.release`) and announces `free`, so another replica claims them within milliseconds.
Their streams get `error` (`run_handed_over`). Nothing is failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any, Protocol, TypeVar

from threadloom.threads_server.events import Event, RunEvents
from threadloom.threads_server.replica_events import ReplicaEvents, purge_spill
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import Database, leases

T = TypeVar("T")
log = logging.getLogger("threads_server.replicas")
MAX_TAKEOVERS = 3
"""A run whose execution was lost with its replica this many times fails `server_error`."""
SWEEP_LIMIT = 100
PURGE_EVERY_SECONDS = 30.0


class Executor(Protocol):
    """What the runner offers the lease loops."""

    def executing(self) -> list[str]:
        """Ids of the runs this replica is executing now, their claims in flight included."""
        ...

    def leased(self) -> list[str]:
        """Ids of the runs this replica executes under a lease its claim took."""
        ...

    def adopt(self, run_id: str) -> None:
        """Try to claim and execute a run nobody holds."""
        ...

    def lost(self, run_id: str) -> None:
        """This replica no longer holds the run: stop executing it."""
        ...

    def expire(self, run_id: str) -> None:
        """Expire a run whose `expires_at` passed."""
        ...

    def remote_event(self, run_id: str, event: Event) -> None:
        """Another replica published `event` for `run_id`."""
        ...


def new_replica_id() -> str:
    """`<host>-<pid>-<random>`: unique per process start, and readable in the `runs` table."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class Replica:
    """This process as one of the replicas: its id, its leases, the sweep and the event relay."""

    def __init__(self, db: Database, hub: RunEvents, settings: ServerSettings) -> None:
        self.id = new_replica_id()
        self.lease_seconds = settings.replica_lease_seconds
        self.sweep_seconds = min(1.0, self.lease_seconds / 4)
        self.draining = False
        self.caps = settings.run_caps
        self._db = db
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._executor: Executor | None = None
        self._unclaimed: set[str] = set()
        assert db.target.url is not None
        self.relay = ReplicaEvents(
            db.target.url,
            db,
            hub,
            self.id,
            on_event=self._remote_event,
            on_control=self._control,
        )

    async def start(self, executor: Executor) -> None:
        """Start relaying events, renewing leases and sweeping for runs nobody executes."""
        self._executor = executor
        await self.relay.start()
        self._loops = [
            asyncio.create_task(self._renew_forever(), name="replica: renew leases"),
            asyncio.create_task(self._sweep_forever(), name="replica: sweep"),
        ]
        log.info("replica %s started (lease %.1fs)", self.id, self.lease_seconds)

    async def stop(self) -> None:
        """Stop the loops and the relay (leases still held lapse on their own)."""
        for task in self._loops:
            task.cancel()
        if self._loops:
            await asyncio.wait(self._loops)
        self._loops = []
        await self.relay.close()

    # -- what the runner calls ----------------------------------------------------------------

    async def claim(self, run_id: str, faults_enabled: bool) -> Any:
        """Take the run for this replica (discarding a lost execution's partial output), and begin
        it if it is `queued`: `leases.take_over_and_begin` (None when a concurrency cap holds a
        queued run back: it stays unclaimed).

        Cancelled (a drain stopping the run's task), it still waits for the transaction, which goes
        on in its database thread, and hands back what it claimed: otherwise a claim that commits
        after the drain's last look leaves the run to wait for this replica's lease to lapse.
        """
        transaction = asyncio.ensure_future(
            self._db.run(
                leases.take_over_and_begin,
                run_id,
                self.id,
                time.time(),
                self.lease_seconds,
                faults_enabled,
                self.caps,
            )
        )
        try:
            return await asyncio.shield(transaction)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                if await transaction is not None:
                    await self.release(run_id)
            raise

    async def owned(self, fn: Any, run_id: str, *args: Any) -> Any:
        """`fn(conn, run_id, *args)` in one transaction, if this replica still holds the run (else
        None, nothing written)."""
        try:
            return await self._db.run(leases.as_owner, self.id, fn, run_id, *args)
        except leases.NotOwner:
            return None

    async def release(self, run_id: str) -> bool:
        """Hand the run over: other replicas may claim it at once."""
        return await self._db.run(leases.release, self.id, run_id)

    async def release_held(self) -> list[str]:
        """Hand over every run whose lease this replica still holds (the end of a drain)."""
        released = []
        for run_id in await self._db.run(leases.held_by, self.id):
            if await self.release(run_id):
                released.append(run_id)
        return released

    def announce_free(self) -> None:
        """Tell the other replicas to sweep now (runs were released or left unclaimed)."""
        self.relay.control("free")

    # -- loops --------------------------------------------------------------------------------

    def _remote_event(self, run_id: str, event: Event) -> None:
        if self._executor is not None:
            self._executor.remote_event(run_id, event)

    def _control(self, kind: str) -> None:
        if kind == "free":
            self._wake.set()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            assert self._executor is not None
            # Not `executing()`: a claim still in flight holds no lease yet, and renewing it would
            # find it "lost" and cancel it (then the run was released and taken over, a fault ignored)
            running = self._executor.leased()
            if not running:
                continue
            until = time.time() + self.lease_seconds
            try:
                lost = await self._db.run(leases.renew, self.id, running, until)
            except Exception as exc:  # the loop must go on, or every lease lapses
                log.warning("cannot renew %d lease(s): %s", len(running), exc)
                continue
            for run_id in lost:
                self._executor.lost(run_id)

    async def _sweep_forever(self) -> None:
        purged = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sweep_seconds):
                    await self._wake.wait()
            announced = self._wake.is_set()
            self._wake.clear()
            if self.draining:
                continue
            try:
                await self._sweep(announced)
                if time.monotonic() - purged > PURGE_EVERY_SECONDS:
                    purged = time.monotonic()
                    await self._db.run(purge_spill, time.time() - PURGE_EVERY_SECONDS * 4)
            except Exception as exc:  # the next sweep tries again
                log.warning("sweep failed: %s", exc)

    async def _sweep(self, announced: bool) -> None:
        """Adopt runs nobody holds: at once if their lease lapsed or a replica announced released
        runs; a run that nobody claimed yet only once two sweeps saw it so (it is most likely a new
        run whose replica is about to claim it, in the same millisecond)."""
        assert self._executor is not None
        now = time.time()
        mine = set(self._executor.executing())
        unclaimed = set()
        for run_id, lapsed in await self._db.run(leases.claimable, now, SWEEP_LIMIT, self.caps):
            if run_id in mine or self.draining:
                continue
            if lapsed or announced or run_id in self._unclaimed:
                self._executor.adopt(run_id)
            else:
                unclaimed.add(run_id)
        self._unclaimed = unclaimed
        for run_id in await self._db.run(leases.due_for_expiry, now, SWEEP_LIMIT):
            self._executor.expire(run_id)


def replica_for(db: Database, hub: RunEvents, settings: ServerSettings) -> Replica | None:
    """A `Replica` on PostgreSQL; None on SQLite, whose one process executes every run."""
    return Replica(db, hub, settings) if db.dialect == "postgresql" else None
