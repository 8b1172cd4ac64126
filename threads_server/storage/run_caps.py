"""The concurrency caps inside the run claim: may this `queued` run start now?

A queued run under a cap (`threads_server.run_caps`) may start only while

    runs of that model (or assistant) in_progress  +  queued runs of it ahead of this one  <  cap

("ahead": a smaller `seq`, the order the runs were created in). Counting the queued runs ahead is
what makes the runs start in arrival order: a later run never takes the slot an earlier one waits
for. A run that leaves `queued` for `in_progress` moves from one term to the other, so the sum seen
by the runs behind it does not change when it starts.

Correct across replicas: the check and the `queued → in_progress` write are one transaction, which
first takes the cap's own lock (`conn.lock("run-cap:…")`: a PostgreSQL advisory lock; SQLite's one
writer serializes anyway), so two replicas that each see cap - 1 runs in progress cannot both start
one; at READ COMMITTED the second, once it holds the lock, counts the run the first one started.
Locks are taken after the run's thread lock and in sorted order, so claims never wait in a cycle.

The model and assistant id are read from the run's JSON `body` (no column of their own): the rows
counted are only the `queued` and `in_progress` ones, which the `runs_status` index finds.
"""

from __future__ import annotations

from collections import Counter

from threadloom.threads_server.run_caps import RunCaps
from threadloom.threads_server.storage.connection import Conn, Dialect

FIELD_SQL: dict[Dialect, str] = {
    "sqlite": "json_extract(body, '$.{0}')",
    "postgresql": "(body::json ->> '{0}')",
}


def _field(dialect: Dialect, name: str) -> str:
    assert name in ("model", "assistant_id")  # never user input: the two fields caps know
    return FIELD_SQL[dialect].format(name)


def admits(conn: Conn, caps: RunCaps, run_id: str, model: str, assistant_id: str) -> bool:
    """Whether the queued run may start now (inside the caller's transaction, which holds the run's
    thread lock and, when True is returned, starts the run before it commits)."""
    limits = caps.limits(model, assistant_id)
    if not limits:
        return True
    for field, value, _cap in limits:
        conn.lock(f"run-cap:{field}:{value}")
    row = conn.execute("SELECT seq FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return False
    for field, value, cap in limits:
        taken = conn.execute(
            f"SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'in_progress')"
            f" AND (status = 'in_progress' OR seq < ?) AND {_field(conn.dialect, field)} = ?",
            (row[0], value),
        ).fetchone()
        if int(taken[0]) >= cap:
            return False
    return True


def held_back(conn: Conn, caps: RunCaps) -> set[str]:
    """Ids of the queued runs a cap holds back right now (the same rule as `admits`, for all)."""
    rows = conn.execute(
        f"SELECT id, status, {_field(conn.dialect, 'model')}, {_field(conn.dialect, 'assistant_id')}"
        " FROM runs WHERE status IN ('queued', 'in_progress') ORDER BY seq"
    ).fetchall()
    taken: Counter[tuple[str, str]] = Counter()
    for _id, status, model, assistant_id in rows:
        if status == "in_progress":
            for field, value, _cap in caps.limits(model or "", assistant_id or ""):
                taken[field, value] += 1
    blocked = set()
    for run_id, status, model, assistant_id in rows:
        if status != "queued":
            continue
        limits = caps.limits(model or "", assistant_id or "")
        if any(taken[field, value] >= cap for field, value, cap in limits):
            blocked.add(run_id)
        for field, value, _cap in limits:
            taken[field, value] += 1
    return blocked


def startable(conn: Conn, caps: RunCaps, at: float, limit: int) -> list[str]:
    """Queued runs under a cap that may start now and nobody holds a live lease on (oldest first):
    the runs to start when a slot frees."""
    blocked = held_back(conn, caps)
    rows = conn.execute(
        f"SELECT id, {_field(conn.dialect, 'model')}, {_field(conn.dialect, 'assistant_id')}"
        " FROM runs WHERE status = 'queued' AND (lease_owner IS NULL OR lease_expires_at <= ?)"
        " ORDER BY seq",
        (at,),
    ).fetchall()
    found = []
    for run_id, model, assistant_id in rows:
        if run_id not in blocked and caps.limits(model or "", assistant_id or ""):
            found.append(run_id)
            if len(found) >= limit:
                break
    return found
