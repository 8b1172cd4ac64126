"""Schema versions: a database from release 0.1.0 is upgraded in place, concurrent migrators do not
race, and a schema from a newer release stops the server instead of being used."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.storage.release_0_1_0 import MESSAGE, THREAD, WITHOUT_STEPS_INDEX, old_database
from threadloom.threads_server.cli import migrate
from threadloom.threads_server.storage import Conn, StartupError, open_database
from threadloom.threads_server.storage.migrations import LATEST
from threadloom.threads_server.testing import app_client, make_settings


def _versions(conn: Conn) -> list[int]:
    return [int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations").fetchall()]


async def _run(db: str, fn: Any) -> Any:
    database = open_database(make_settings(db).database)
    await database.open()
    try:
        return await database.run(fn)
    finally:
        await database.close()


async def test_a_sqlite_file_of_release_0_1_0_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "threads.db"
    old_database(path)
    async with app_client(path) as (client, _app):
        thread = (await client.get(f"/threads/{THREAD['id']}")).json()
        assert thread["metadata"] == {"made": "by 0.1.0"}
        listed = (await client.get(f"/threads/{THREAD['id']}/messages")).json()
        assert [m["content"][0]["text"]["value"] for m in listed["data"]] == ["written by 0.1.0"]
        added = await client.post(
            f"/threads/{THREAD['id']}/messages", json={"role": "user", "content": "and by today's"}
        )
        assert added.status_code == 200
        after = (await client.get(f"/threads/{THREAD['id']}/messages", params={"order": "asc"})).json()
        assert [m["role"] for m in after["data"]] == ["user", "user"]
        assert after["data"][0]["id"] == MESSAGE["id"]
    assert await _run(str(path), _versions) == list(range(1, LATEST + 1))


async def test_a_sqlite_file_without_the_steps_index_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    old_database(path, WITHOUT_STEPS_INDEX)

    def plan(conn: Conn) -> list[Any]:
        return conn.execute("EXPLAIN QUERY PLAN DELETE FROM steps WHERE thread_id = 'x'").fetchall()

    assert any("steps_thread" in str(row) for row in await _run(str(path), plan))


async def test_concurrent_migrators_apply_each_version_once(empty_db: str) -> None:
    settings = make_settings(empty_db)
    await asyncio.gather(*(migrate(settings) for _ in range(4)))
    assert await _run(empty_db, _versions) == list(range(1, LATEST + 1))


async def test_servers_starting_at_once_on_a_new_sqlite_file_all_start(tmp_path: Path) -> None:
    # Switching a new file to WAL fails at once ("database is locked", no busy wait) when another
    # connection switches it at the same moment; CI saw one of four migrators fail so.
    for attempt in range(20):
        path = tmp_path / f"new-{attempt}.db"
        await asyncio.gather(*(migrate(make_settings(str(path))) for _ in range(8)))
        assert await _run(str(path), _versions) == list(range(1, LATEST + 1))


async def test_a_schema_from_a_newer_release_is_refused(empty_db: str) -> None:
    settings = make_settings(empty_db)
    await migrate(settings)

    def from_the_future(conn: Conn) -> None:
        conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", (LATEST + 1,))

    await _run(empty_db, from_the_future)
    with pytest.raises(StartupError, match=f"schema is version {LATEST + 1}, newer than"):
        await migrate(settings)
    with pytest.raises(StartupError):
        async with app_client(empty_db):
            pass


async def test_the_app_migrates_an_empty_database_on_start(empty_db: str) -> None:
    async with app_client(empty_db) as (client, _app):
        assert isinstance(client, httpx.AsyncClient)
        created = await client.post("/assistants", json={"model": "echo"})
        assert created.status_code == 200
        listed = (await client.get("/assistants")).json()["data"]
        assert [a["id"] for a in listed] == [created.json()["id"]]
