"""What a replica that died mid-reply leaves behind, and what the replica that takes over does with it.

The database is left exactly as a SIGKILLed replica leaves it (written here with the server's own
storage functions, under a lease that has lapsed): a run `in_progress`, its reply started (an empty
`in_progress` assistant message and its step). A live replica then takes the run over. The real-kill
version of this, through the engine, is `test_three_replicas.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psycopg
import pytest

from threadloom.threads_server.replicas import MAX_TAKEOVERS
from threadloom.threads_server.storage import leases
from threadloom.threads_server.storage import run_progress as progress
from threadloom.threads_server.storage.assistants import create_assistant
from threadloom.threads_server.storage.postgres import PostgresConn
from threadloom.threads_server.storage.runs import create_run, load_run, save_run
from threadloom.threads_server.storage.threads import create_thread
from threadloom.threads_server.testing import running_server

DEAD = "dead-replica-1"


def _in_transaction(url: str, fn: Any, *args: Any) -> Any:
    with psycopg.connect(url, autocommit=True) as raw, raw.transaction():
        return fn(PostgresConn(raw), *args)


def _interrupted_reply(conn: PostgresConn, takeovers: int) -> dict[str, str]:
    """A run whose replica died while writing the reply; its lease lapsed a while ago."""
    assistant = create_assistant(conn, {"model": "echo"})
    thread = create_thread(conn, {"messages": [{"role": "user", "content": "hello again"}]})
    run = create_run(conn, thread["id"], {"assistant_id": assistant["id"]}, 600)
    long_ago = time.time() - 60
    assert leases.take_over_and_begin(conn, run["id"], DEAD, long_ago, 5.0, False) is not None
    started = progress.start_message(conn, run["id"])
    assert started is not None
    _step, message = started
    if takeovers:
        loaded = load_run(conn, run["id"])
        assert loaded is not None
        loaded[1]["takeovers"] = takeovers
        save_run(conn, *loaded, was="in_progress")
    return {"thread": thread["id"], "run": run["id"], "partial": message["id"]}


async def _settled(client: httpx.AsyncClient, ids: dict[str, str]) -> dict[str, Any]:
    run: dict[str, Any] = (
        await client.get(
            f"/threads/{ids['thread']}/runs/{ids['run']}",
            params={"wait_ms": 10_000, "if_status": "queued,in_progress"},
        )
    ).json()
    return run


async def test_a_run_whose_replica_died_mid_reply_completes_with_one_reply(postgres_url) -> None:
    ids = _in_transaction(postgres_url, _interrupted_reply, 0)
    async with (
        running_server(postgres_url) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        # What a stream of the run gets: the takeover ends it (its announced message is replaced).
        with server.app.state.services.events.subscribe(ids["run"]) as stream:
            run = await _settled(client, ids)
            ended = await asyncio.wait_for(stream.get(), 5)
        assert (ended.event, ended.data["error"]["code"]) == ("error", "run_executor_lost")
        assert run["status"] == "completed" and run["last_error"] is None
        listed = (await client.get(f"/threads/{ids['thread']}/messages", params={"order": "asc"})).json()
        assert [(m["role"], m["content"][0]["text"]["value"]) for m in listed["data"]] == [
            ("user", "hello again"),
            ("assistant", "Echo: hello again"),
        ]
        assert ids["partial"] not in [m["id"] for m in listed["data"]]  # replaced, not left behind
        steps = (await client.get(f"/threads/{ids['thread']}/runs/{ids['run']}/steps")).json()
        assert [(s["type"], s["status"]) for s in steps["data"]] == [("message_creation", "completed")]


async def test_a_run_that_keeps_losing_its_replica_fails_instead_of_moving_on(postgres_url) -> None:
    ids = _in_transaction(postgres_url, _interrupted_reply, MAX_TAKEOVERS - 1)
    async with (
        running_server(postgres_url) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        run = await _settled(client, ids)
        assert run["status"] == "failed"
        assert run["last_error"]["code"] == "server_error"
        assert f"lost with its server {MAX_TAKEOVERS} times" in run["last_error"]["message"]
        # The thread is usable again: the failed run holds no lock.
        posted = await client.post(
            f"/threads/{ids['thread']}/messages", json={"role": "user", "content": "next"}
        )
        assert posted.status_code == 200


def _a_begins_and_b_takes_over(conn: PostgresConn) -> tuple[Any, ...]:
    """Replica A begins a reply; B cannot claim the run while A's lease is live, then takes it over."""
    assistant = create_assistant(conn, {"model": "echo"})
    thread = create_thread(conn, {"messages": [{"role": "user", "content": "who wins"}]})
    run_id = create_run(conn, thread["id"], {"assistant_id": assistant["id"]}, 600)["id"]
    now = time.time()
    leases.take_over_and_begin(conn, run_id, "replica-a", now, 1.0, False)
    step, message = progress.start_message(conn, run_id) or ({}, {})
    refused_early = leases.take_over(conn, run_id, "replica-b", now + 0.5, 1.0)  # A's lease is live
    taken = leases.take_over(conn, run_id, "replica-b", now + 2, 1.0)
    return run_id, step, message, refused_early, taken


def _messages_of(conn: PostgresConn, run_id: str) -> list[str]:
    rows = conn.execute("SELECT body FROM messages WHERE run_id = ?", (run_id,)).fetchall()
    return [row[0] for row in rows]


def test_a_replica_that_lost_its_lease_can_no_longer_write_the_run(postgres_url) -> None:
    run_id, step, message, refused_early, taken = _in_transaction(
        postgres_url, _a_begins_and_b_takes_over
    )
    assert refused_early is None  # no claim while the lease is live
    assert taken is not None and taken[2] == "replica-a"
    with pytest.raises(leases.NotOwner):  # A's late reply is refused, and rolled back
        _in_transaction(
            postgres_url,
            leases.as_owner,
            "replica-a",
            progress.complete_reply,
            run_id,
            step,
            message,
            "stale",
            {},
            None,
        )
    assert _in_transaction(postgres_url, _messages_of, run_id) == []  # B discarded A's partial one


def _claimed_without_a_task(conn: PostgresConn, owner: str) -> dict[str, str]:
    """A run whose claim by `owner` committed although its task was gone (cancelled by a drain
    while the claim's database call was still running)."""
    assistant = create_assistant(conn, {"model": "echo"})
    thread = create_thread(conn, {"messages": [{"role": "user", "content": "hand me over"}]})
    run = create_run(conn, thread["id"], {"assistant_id": assistant["id"]}, 600)
    assert leases.take_over_and_begin(conn, run["id"], owner, time.time(), 60.0, False) is not None
    return {"thread": thread["id"], "run": run["id"]}


async def test_a_drain_hands_over_a_claim_that_committed_after_its_task_was_cancelled(
    postgres_url,
) -> None:
    # Replica A holds a 60 s lease on a run it executes nowhere; its graceful shutdown must release
    # it, or replica B could take the run only once the lease lapses, a minute later.
    async with running_server(postgres_url, replica_lease_seconds=60) as first:
        owner = first.app.state.services.runner.replica_id
        ids = _in_transaction(postgres_url, _claimed_without_a_task, owner)
    async with (
        running_server(postgres_url, replica_lease_seconds=60) as second,
        httpx.AsyncClient(base_url=second.base_url, timeout=30) as client,
    ):
        run = await _settled(client, ids)
        assert run["status"] == "completed", run
        listed = (await client.get(f"/threads/{ids['thread']}/messages", params={"order": "asc"})).json()
        assert [m["content"][0]["text"]["value"] for m in listed["data"]] == [
            "hand me over",
            "Echo: hand me over",
        ]
