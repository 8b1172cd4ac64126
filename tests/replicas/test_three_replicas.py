"""The done-when test of issue 13: three server processes on one PostgreSQL, turns through the engine.

Turns go through a real Temporal dev server and the real worker, whose Threads API base URL is a
round-robin TCP proxy over three `python -m threadloom.threads_server` processes. In the first wave
of turns the replica executing the most runs is SIGKILLed in the middle of them; in the second wave
the busiest remaining replica gets SIGTERM (a rolling deploy, which hands its runs over). Every turn
completes, and each thread holds exactly one user message, one reply and one completed run per turn.
The test prints how long the takeover of the killed replica's runs took.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import psycopg
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.replicas.processes import Replica, RoundRobinProxy, replicas
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import RunOverrides, TurnPolicy, TurnRequest, UserMessage

THREADS = 6
RUN_MS = 3500
BUSY = THREADS // 2
"""In-progress runs to wait for before a kill: on a loaded machine the turns of a wave start
spread out, so all of them need not be in progress at one moment (CI saw none for 20 s)."""
LEASE_SECONDS = "2"  # short for a quick takeover; long enough that a loaded CI machine renews in time


def _owned(url: str, replica: Replica) -> set[str]:
    """Ids of the in-progress runs `replica` holds the lease of (its id holds its pid)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id FROM runs WHERE status = 'in_progress' AND lease_owner LIKE %s",
            (f"%-{replica.process.pid}-%",),
        ).fetchall()
    return {row[0] for row in rows}


async def _busiest(url: str, candidates: list[Replica], wanted: int) -> tuple[Replica, set[str]]:
    """Once `wanted` runs are in progress, the replica executing most of them (and its runs)."""
    deadline = time.monotonic() + 20
    while True:
        owned = {replica.name: await asyncio.to_thread(_owned, url, replica) for replica in candidates}
        if sum(len(runs) for runs in owned.values()) >= wanted:
            victim = max(candidates, key=lambda replica: len(owned[replica.name]))
            return victim, owned[victim.name]
        assert time.monotonic() < deadline, f"runs never got in progress: {owned}"
        await asyncio.sleep(0.05)


async def _taken_over(url: str, victim: Replica, runs: set[str]) -> float:
    """Seconds until none of `runs` is in progress under `victim`'s lease any more."""
    started = time.monotonic()
    while await asyncio.to_thread(_owned, url, victim) & runs:
        assert time.monotonic() - started < 20, "the killed replica's runs were never taken over"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def _turn(thread_id: str, assistant_id: str, text: str) -> TurnRequest:
    return TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        run=RunOverrides(metadata={"fault": f"delay={RUN_MS}"}),
        policy=TurnPolicy(heartbeat_timeout_seconds=5),
    )


async def _wave(
    loom: Threadloom, thread_ids: list[str], assistant_id: str, wave: int
) -> list[asyncio.Task[object]]:
    handles = [
        await loom.start_turn(_turn(tid, assistant_id, f"turn {wave} on {tid}")) for tid in thread_ids
    ]
    return [asyncio.create_task(asyncio.wait_for(handle.result(), 60)) for handle in handles]


async def test_three_replicas_lose_and_duplicate_nothing_when_one_dies_and_one_redeploys(
    temporal_env: WorkflowEnvironment,
    postgres_url: str,
    tmp_path: Path,
    loom: Threadloom,
    task_queue: str,
) -> None:
    settings = {
        "THREADLOOM_SERVER_REPLICA_LEASE_SECONDS": LEASE_SECONDS,
        "THREADLOOM_SERVER_SHUTDOWN_GRACE_SECONDS": "0.2",
    }
    async with (
        replicas(postgres_url, tmp_path, 3, **settings) as servers,
        RoundRobinProxy([server.port for server in servers]) as proxy,
        ThreadsClient(proxy.base_url, max_retries=0) as threads,
        build_worker(temporal_env.client, threads, task_queue=task_queue),
    ):
        assistant_id = (await threads.assistants.create(model="echo", name="replicas")).id
        thread_ids = [(await threads.threads.create()).id for _ in range(THREADS)]

        first = await _wave(loom, thread_ids, assistant_id, 1)
        victim, runs = await _busiest(postgres_url, servers, BUSY)
        victim.kill()  # SIGKILL in the middle of its runs
        takeover = await _taken_over(postgres_url, victim, runs)
        print(
            f"\nSIGKILLed {victim.name} holding {len(runs)} in-progress run(s); another replica "
            f"took them over {takeover:.2f} s later (lease {LEASE_SECONDS} s)"
        )
        results = list(await asyncio.gather(*first))

        second = await _wave(loom, thread_ids, assistant_id, 2)
        alive = [server for server in servers if server is not victim]
        deployed, handed = await _busiest(postgres_url, alive, BUSY)
        deployed.process.send_signal(signal.SIGTERM)  # rolling deploy: hands its runs over
        await asyncio.to_thread(deployed.process.wait, 20)  # uvicorn exits by re-raising SIGTERM
        results += await asyncio.gather(*second)
        print(f"SIGTERM to {deployed.name} holding {len(handed)} in-progress run(s): handed over")
        survivor = next(server for server in alive if server is not deployed)
        # Handed over (released at once), not left to lapse like the killed replica's leases. (In
        # two full-suite CI runs one run lapsed: a claim cancelled by the drain committed after the
        # drain's last look; `Replica.claim` now hands such a claim back, test_cancelled_claim.py.)
        lapsed = survivor.log().count(
            f"from replica {socket.gethostname()[:40]}-{deployed.process.pid}-"
        )
        assert lapsed == 0, f"{lapsed} run(s) of the SIGTERMed replica lapsed, not handed over"
        assert f"-{victim.process.pid}-" in survivor.log() + deployed.log()
        print(f"connections per replica through the proxy: {proxy.connections}")

        assert len(runs) >= 1 and len(handed) >= 1
        for result in results:
            assert result.reply.startswith("Echo: turn ")  # type: ignore[attr-defined]
        for thread_id in thread_ids:
            state = await thread_state(threads, thread_id)
            assert [m.content[0].text.value for m in state.user_messages] == [
                f"turn 1 on {thread_id}",
                f"turn 2 on {thread_id}",
            ]
            replies = [m for m in state.messages if m.role == "assistant"]
            assert [m.content[0].text.value for m in replies] == [
                f"Echo: turn 1 on {thread_id}",
                f"Echo: turn 2 on {thread_id}",
            ]
            assert state.statuses == ["completed", "completed"]
