"""Run leases: which replica executes a run, until when, and the transitions of a takeover.

```
runs.lease_owner        the replica id executing the run (NULL: nobody; anyone may claim it)
runs.lease_expires_at   Unix time the claim lapses unless its owner renews it
runs.deadline           the run's `expires_at` (kept in a column from its first claim on, so the
                        expiry sweep of `due_for_expiry` is one indexed query)
```
A lease matters only while the run is executing (`queued`, `in_progress`, `cancelling`): a run in
`requires_action` waits for its client and has no executor, and the owner's transition that moves a
run there (or to a terminal status) clears the lease in the same transaction (`as_owner`), so the
replica that receives the tool outputs can claim the run at once.

`claim` is a compare-and-set: the run is taken only if nobody holds a live lease on it (`UPDATE …
WHERE` the lease is free or lapsed, which PostgreSQL re-checks on the latest row version after
waiting for a concurrent writer, so a renewal that commits first wins). The runner's own transitions
go through `as_owner`, which checks inside the transaction that this replica still holds the
lease: a replica that lost its lease (it stalled past the lapse, or its database connection broke)
can no longer write the run another replica took over. Claims, owners' writes and hand-overs first
take the run's thread lock (`runs.lock_run`), as every write to a thread does, so they are
serialized with each other and with cancellation, deletion and submitted tool outputs.

With concurrency caps (`THREADLOOM_SERVER_MODEL_CONCURRENCY`), a `queued` run is claimable only
while its model (or assistant) has room (`storage.run_caps.admits`, checked in the claim's own
transaction under the cap's lock): a run held back is not claimed at all, keeps no lease and stays
`queued`, so any replica may start it once a slot frees (`startable`), and `claimable` leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from threadloom.threads_server.expiry import is_due
from threadloom.threads_server.faults import RunFault
from threadloom.threads_server.run_caps import RunCaps
from threadloom.threads_server.storage import run_caps
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.run_progress import begin_with_fault
from threadloom.threads_server.storage.runs import lock_run, save_run
from threadloom.threads_server.storage.steps import in_progress_steps

T = TypeVar("T")
EXECUTING = ("queued", "in_progress", "cancelling")
"""Statuses in which a run needs an executor (and so a lease)."""

Claimed = tuple[dict[str, Any], dict[str, Any], str | None]


def _lease_owner(conn: Conn, run_id: str) -> str | None:
    row = conn.execute("SELECT lease_owner FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else row[0]


def claim(conn: Conn, run_id: str, owner: str, at: float, lease_seconds: float) -> Claimed | None:
    """Take the run for `owner` if it needs an executor and no other live lease holds it.

    Returns `(run, state, previous_owner)`; `previous_owner` is the replica whose lease lapsed
    (None for a run nobody executed yet, or one a graceful shutdown released). None if the run is
    not claimable.
    """
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] not in EXECUTING:
        return None
    holder = _lease_owner(conn, run_id)
    taken = conn.execute(
        "UPDATE runs SET lease_owner = ?, lease_expires_at = ?, deadline = ? WHERE id = ?"
        " AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at <= ?)",
        (owner, at + lease_seconds, float(loaded[1]["deadline"]), run_id, owner, at),
    ).rowcount
    if taken != 1:
        return None
    return loaded[0], loaded[1], holder


def claimable(conn: Conn, at: float, limit: int, caps: RunCaps | None = None) -> list[tuple[str, bool]]:
    """Executing runs nobody holds a live lease on (oldest first): `(id, lapsed)`, where `lapsed`
    says a replica held it (and died or stalled) rather than nobody yet (new, or released).

    Queued runs that `caps` hold back are left out (they are not claimable until a slot frees).
    """
    blocked = run_caps.held_back(conn, caps) if caps is not None else set()
    rows = conn.execute(
        "SELECT id, lease_owner FROM runs WHERE status IN (?, ?, ?)"
        " AND (lease_owner IS NULL OR lease_expires_at <= ?) ORDER BY seq LIMIT ?",
        (*EXECUTING, at, limit + len(blocked)),
    ).fetchall()
    return [(row[0], row[1] is not None) for row in rows if row[0] not in blocked][:limit]


def held_back_by_cap(conn: Conn, run_id: str, at: float, caps: RunCaps | None) -> bool:
    """True if the run is `queued`, not yet due, and `caps` hold it back (nothing is then written
    but its `deadline` column, so the expiry sweep finds it if its own replica's timer is gone).

    Takes the run's thread lock, as a claim does, then the cap's lock (`run_caps.admits`).
    """
    if caps is None:
        return False
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] != "queued" or is_due(loaded[0]["expires_at"], at):
        return False
    run, state = loaded
    if run_caps.admits(conn, caps, run_id, str(run["model"] or ""), str(run["assistant_id"] or "")):
        return False
    conn.execute(
        "UPDATE runs SET deadline = ? WHERE id = ? AND deadline IS NULL",
        (float(state["deadline"]), run_id),
    )
    return True


def begin_capped(
    conn: Conn, run_id: str, faults_enabled: bool, at: float, caps: RunCaps | None
) -> tuple[dict[str, Any], RunFault | None] | None:
    """One process (SQLite): `begin_with_fault`, unless `caps` hold the run back (None then)."""
    if held_back_by_cap(conn, run_id, at, caps):
        return None
    return begin_with_fault(conn, run_id, faults_enabled)


def startable(conn: Conn, at: float, limit: int, caps: RunCaps) -> list[str]:
    """Queued runs under a cap that may start now and no live lease holds (`run_caps.startable`)."""
    return run_caps.startable(conn, caps, at, limit)


def renew(conn: Conn, owner: str, run_ids: list[str], until: float) -> list[str]:
    """Extend `owner`'s leases on `run_ids`; returns the ids it no longer holds.

    No thread lock: each `UPDATE … WHERE lease_owner = owner` is its own compare-and-set.
    """
    lost = []
    for run_id in run_ids:
        done = conn.execute(
            "UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ?",
            (until, run_id, owner),
        )
        if done.rowcount == 0:
            lost.append(run_id)
    return lost


class NotOwner(Exception):
    """Raised inside `as_owner`'s transaction (which rolls it back): the lease is someone else's."""


def as_owner(conn: Conn, owner: str, fn: Callable[..., T], run_id: str, *args: Any) -> T:
    """`fn(conn, run_id, *args)`, kept only if `owner` holds the run's lease (NotOwner otherwise).

    Every `fn` the runner passes takes the run's thread lock first, which claims also take: so the
    lease checked after `fn` (one `UPDATE … WHERE lease_owner = owner`, which also clears the lease
    once `fn` moved the run out of the executing statuses) is the lease `fn` ran under, and a
    mismatch raises, rolling back whatever `fn` wrote.
    """
    result = fn(conn, run_id, *args)
    kept = conn.execute(
        "UPDATE runs SET lease_owner = CASE WHEN status IN (?, ?, ?) THEN lease_owner END,"
        " lease_expires_at = CASE WHEN status IN (?, ?, ?) THEN lease_expires_at END"
        " WHERE id = ? AND lease_owner = ?",
        (*EXECUTING, *EXECUTING, run_id, owner),
    ).rowcount
    if kept != 1:
        raise NotOwner(run_id)
    return result


def discard_partial_output(conn: Conn, run_id: str) -> list[str]:
    """Delete the unfinished reply of an interrupted execution (its in-progress message and step).

    The reply's text is written only when it completes, so what is deleted is an empty message a
    stream may have announced; the next execution writes the whole reply again. Returns the ids
    of the messages deleted. The caller holds the thread lock.
    """
    deleted = []
    for step in in_progress_steps(conn, run_id):
        if step["type"] == "message_creation":
            message_id = step["step_details"]["message_creation"]["message_id"]
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            conn.execute("DELETE FROM steps WHERE id = ?", (step["id"],))
            deleted.append(message_id)
    return deleted


def take_over(conn: Conn, run_id: str, owner: str, at: float, lease_seconds: float) -> Claimed | None:
    """`claim`, and if another execution was interrupted: discard its partial output, count it.

    `state["takeovers"]` counts the executions of this run that were lost with their replica.
    """
    claimed = claim(conn, run_id, owner, at, lease_seconds)
    if claimed is None:
        return None
    run, state, previous = claimed
    if previous is not None and previous != owner and run["status"] == "in_progress":
        discard_partial_output(conn, run_id)
        state["takeovers"] = int(state.get("takeovers", 0)) + 1
        save_run(conn, run, state, was="in_progress")
    return run, state, previous


def take_over_and_begin(
    conn: Conn,
    run_id: str,
    owner: str,
    at: float,
    lease_seconds: float,
    faults_enabled: bool,
    caps: RunCaps | None = None,
) -> tuple[Claimed, tuple[dict[str, Any], RunFault | None] | None] | None:
    """`take_over`, then (a `queued` run not yet due) `begin_with_fault`, in one transaction.

    One transaction, as on SQLite, where a run starts with `begin_with_fault` alone: a client sees
    a new run leave `queued` as soon on either backend. None (nothing claimed) for a queued run that
    `caps` hold back.
    """
    if held_back_by_cap(conn, run_id, at, caps):
        return None
    claimed = take_over(conn, run_id, owner, at, lease_seconds)
    if claimed is None:
        return None
    run = claimed[0]
    if run["status"] != "queued" or is_due(run["expires_at"], at):
        return claimed, None
    return claimed, begin_with_fault(conn, run_id, faults_enabled)


def release(conn: Conn, owner: str, run_id: str) -> bool:
    """Hand the run over (graceful shutdown): drop its partial output and `owner`'s lease.

    The run keeps its status; the next claim executes it from the start. False if `owner` did not
    hold the run.
    """
    loaded = lock_run(conn, run_id)
    if loaded is None or loaded[0]["status"] not in EXECUTING or _lease_owner(conn, run_id) != owner:
        return False
    discard_partial_output(conn, run_id)
    conn.execute("UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ?", (run_id,))
    return True


def held_by(conn: Conn, owner: str) -> list[str]:
    """Ids of the executing runs whose lease `owner` holds (a drain's last look: a claim that was
    in flight when its task was cancelled may have committed after the task's hand-over)."""
    rows = conn.execute(
        "SELECT id FROM runs WHERE lease_owner = ? AND status IN (?, ?, ?)", (owner, *EXECUTING)
    ).fetchall()
    return [row[0] for row in rows]


def due_for_expiry(conn: Conn, at: float, limit: int) -> list[str]:
    """Ids of active runs past their `expires_at` that no live lease covers.

    A run some replica executes is expired by that replica's own timer; these are the runs whose
    timer went with a replica (mostly `requires_action` runs, which nobody executes).
    """
    rows = conn.execute(
        "SELECT id FROM runs WHERE status IN (?, ?, ?, ?) AND deadline <= ?"
        " AND (lease_owner IS NULL OR lease_expires_at <= ?) ORDER BY seq LIMIT ?",
        ("queued", "in_progress", "requires_action", "cancelling", at, at, limit),
    ).fetchall()
    return [row[0] for row in rows]
