"""Two replicas (two apps in this process, each with its own runner, leases and LISTEN connection) on
one real PostgreSQL database: long-polls, relayed stream events, cancellation, deletion, expiry."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.server.helpers import new_assistant, new_thread, waiting_run
from threadloom.threads_server.events import Event
from threadloom.threads_server.testing import ServerHandle, running_server


def _events_of(server: ServerHandle) -> Any:
    return server.app.state.services.events


def _runner_of(server: ServerHandle) -> Any:
    return server.app.state.services.runner


async def _run(client: httpx.AsyncClient, thread_id: str, assistant_id: str, fault: str) -> Any:
    body = {"assistant_id": assistant_id, "metadata": {"fault": fault}}
    return (await client.post(f"/threads/{thread_id}/runs", json=body)).json()


async def test_a_long_poll_on_one_replica_wakes_when_another_finishes_the_run(postgres_url) -> None:
    async with (
        running_server(postgres_url, faults_enabled=True) as a,
        running_server(postgres_url, faults_enabled=True) as b,
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as on_b,
    ):
        assistant_id = await new_assistant(on_a)
        thread_id = await new_thread(on_a, "wake me")
        run = await _run(on_a, thread_id, assistant_id, "delay=700")
        assert _runner_of(a).executing() == [run["id"]]  # A executes it, B does not
        assert _runner_of(b).executing() == []
        started = time.monotonic()
        held = await on_b.get(
            f"/threads/{thread_id}/runs/{run['id']}",
            params={"wait_ms": 10_000, "if_status": "queued,in_progress"},
        )
        waited = time.monotonic() - started
        answered_ms = time.time() * 1000
        # Only a notification from A can end B's wait before its 10 s: B never polls the table.
        assert held.json()["status"] == "completed"
        assert waited < 5
        finished = (await on_a.get(f"{a.root_url}/_threadloom/runs/{run['id']}/finished")).json()
        lag_ms = answered_ms - finished["finished_at_ms"]
        print(f"\nlong-poll on B answered {lag_ms:.1f} ms after A finished the run (with HTTP)")


async def test_another_replicas_subscribers_get_every_event_in_order(postgres_url) -> None:
    """What a stream on B of a run A executes would show: every event, deltas in order, and an
    event larger than one NOTIFY payload (through the spill table)."""
    long_word = "x" * 9000  # one "word": its delta alone is over the 8,000-byte payload limit
    text = f"one two three four five six seven eight nine ten {long_word} eleven"
    async with (
        running_server(postgres_url, faults_enabled=True) as a,
        running_server(postgres_url, faults_enabled=True) as b,
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as on_a,
    ):
        assistant_id = await new_assistant(on_a)
        thread_id = await new_thread(on_a, text)
        run = await _run(on_a, thread_id, assistant_id, "delay=300")
        seen: list[Event] = []
        with _events_of(b).subscribe(run["id"]) as subscription:
            async with asyncio.timeout(10):
                while not seen or seen[-1].event != "thread.run.completed":
                    seen.append(await subscription.get())
    names = [event.event for event in seen]
    assert "thread.run.in_progress" in names
    assert names.index("thread.message.created") < names.index("thread.message.delta")
    ending = ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]
    assert names[-3:] == ending
    deltas = [e.data["delta"]["content"][0]["text"]["value"] for e in seen if e.event.endswith("delta")]
    assert "".join(deltas) == f"Echo: {text}"
    assert seen[-3].data["content"][0]["text"]["value"] == f"Echo: {text}"


async def test_cancel_on_one_replica_stops_the_run_another_executes(postgres_url) -> None:
    async with (
        running_server(postgres_url, faults_enabled=True) as a,
        running_server(postgres_url, faults_enabled=True) as b,
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as on_b,
    ):
        assistant_id = await new_assistant(on_a)
        thread_id = await new_thread(on_a, "stall")
        run = await _run(on_a, thread_id, assistant_id, "stall")
        path = f"/threads/{thread_id}/runs/{run['id']}"
        await on_a.get(path, params={"wait_ms": 5000, "if_status": "queued"})
        cancelling = await on_b.post(f"{path}/cancel")
        assert cancelling.json()["status"] == "cancelling"
        held = await on_a.get(path, params={"wait_ms": 5000, "if_status": "cancelling,in_progress"})
        assert held.json()["status"] == "cancelled"
        for _ in range(100):  # A hears of it and stops executing the run
            if not _runner_of(a).executing():
                break
            await asyncio.sleep(0.02)
        assert _runner_of(a).executing() == []
        # The thread is free again, on either replica.
        again = await _run(on_b, thread_id, assistant_id, "delay=1")
        done = await on_a.get(
            f"/threads/{thread_id}/runs/{again['id']}",
            params={"wait_ms": 5000, "if_status": "queued,in_progress"},
        )
        assert done.json()["status"] == "completed"


async def test_deleting_a_thread_on_one_replica_ends_a_long_poll_on_another(postgres_url) -> None:
    async with (
        running_server(postgres_url, faults_enabled=True) as a,
        running_server(postgres_url, faults_enabled=True) as b,
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as on_b,
    ):
        assistant_id = await new_assistant(on_a)
        waiting = await waiting_run(on_a, assistant_id)
        path = f"/threads/{waiting['thread_id']}/runs/{waiting['id']}"
        poll = asyncio.ensure_future(on_b.get(path, params={"wait_ms": 10_000}))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        assert (await on_a.delete(f"/threads/{waiting['thread_id']}")).status_code == 200
        polled = await poll
        assert polled.status_code == 404
        assert time.monotonic() - started < 5  # woken, not the 10 s wait


async def test_a_waiting_run_expires_on_time_when_its_replica_is_gone(postgres_url) -> None:
    """A's expiry timer goes with A: B's sweep expires the run at `expires_at`."""
    async with (
        running_server(postgres_url, run_expiry_seconds=2) as b,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as on_b,
    ):
        async with running_server(postgres_url, run_expiry_seconds=2) as a:
            async with httpx.AsyncClient(base_url=a.base_url, timeout=30) as on_a:
                waiting = await waiting_run(on_a, await new_assistant(on_a))
        path = f"/threads/{waiting['thread_id']}/runs/{waiting['id']}"
        held = await on_b.get(path, params={"wait_ms": 6000, "if_status": "requires_action"})
        assert held.json()["status"] == "expired"
        assert time.time() >= waiting["expires_at"]
