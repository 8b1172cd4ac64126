"""What the database itself refuses, on both backends, even if a storage function forgot to check."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from threadloom.threads_server.storage import Conn, open_database
from threadloom.threads_server.storage.errors import WriteConflict
from threadloom.threads_server.storage.rows import insert
from threadloom.threads_server.storage.runs import load_run, save_run
from threadloom.threads_server.testing import make_settings


async def _run(db: str | Path, fn: Any) -> Any:
    database = open_database(make_settings(db).database)
    await database.open()
    try:
        return await database.run(fn)
    finally:
        await database.close()


def _run_row(run_id: str, status: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"id": run_id, "thread_id": "thread_x", "status": status}, {"status": status}


async def test_a_second_active_run_on_a_thread_is_refused_by_the_database(empty_db: str) -> None:
    def two_active(conn: Conn) -> None:
        for run_id in ("run_a", "run_b"):
            run, _ = _run_row(run_id, "queued")
            insert(conn, "runs", run, thread_id="thread_x", status="queued", state="{}")

    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        await _run(empty_db, two_active)

    def one_active_one_done(conn: Conn) -> int:
        for run_id, status in (("run_a", "completed"), ("run_b", "in_progress")):
            run, _ = _run_row(run_id, status)
            insert(conn, "runs", run, thread_id="thread_x", status=status, state="{}")
        return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    assert await _run(empty_db, one_active_one_done) == 2


async def test_a_run_transition_is_compare_and_set(empty_db: str) -> None:
    def setup(conn: Conn) -> None:
        run, _ = _run_row("run_a", "cancelling")
        insert(conn, "runs", run, thread_id="thread_x", status="cancelling", state="{}")

    await _run(empty_db, setup)

    def complete_as_if_in_progress(conn: Conn) -> None:
        run, state = load_run(conn, "run_a") or ({}, {})
        run["status"] = "completed"
        save_run(conn, run, state, was="in_progress")

    with pytest.raises(WriteConflict):
        await _run(empty_db, complete_as_if_in_progress)

    def status(conn: Conn) -> str:
        return str(conn.execute("SELECT status FROM runs WHERE id = 'run_a'").fetchone()[0])

    assert await _run(empty_db, status) == "cancelling"
