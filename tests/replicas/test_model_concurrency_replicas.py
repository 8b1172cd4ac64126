"""Two replica processes on one PostgreSQL database share one concurrency cap: with
`THREADLOOM_SERVER_MODEL_CONCURRENCY=echo=2` and runs created on both, never more than two are in
progress at once (each replica alone would start two of its own), and they start in creation order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.replicas.processes import replicas
from tests.server.helpers import new_assistant, new_thread


async def _observe(client: httpx.AsyncClient, runs: list[dict[str, Any]]) -> list[str]:
    """The runs' statuses, read newest first (see `tests/server/test_model_concurrency.py`)."""
    statuses = []
    for run in reversed(runs):
        got = await client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")
        statuses.append(got.json()["status"])
    return statuses[::-1]


async def test_two_replicas_share_one_cap(postgres_url: str, tmp_path: Path) -> None:
    async with replicas(postgres_url, tmp_path, 2, THREADLOOM_SERVER_MODEL_CONCURRENCY="echo=2") as (
        a,
        b,
    ):
        clients = [httpx.AsyncClient(base_url=s.base_url, timeout=30) for s in (a, b)]
        try:
            assistant_id = await new_assistant(clients[0])
            runs = []
            started = time.monotonic()
            for number in range(6):  # alternately on A and B, one right after the other
                client = clients[number % 2]
                thread_id = await new_thread(client, f"turn {number}")
                body = {"assistant_id": assistant_id, "metadata": {"fault": "delay=300"}}
                runs.append((await client.post(f"/threads/{thread_id}/runs", json=body)).json())
            most = 0
            async with asyncio.timeout(30):
                while True:
                    statuses = await _observe(clients[1], runs)
                    most = max(most, statuses.count("in_progress"))
                    assert statuses.count("in_progress") <= 2, statuses
                    left = [status != "queued" for status in statuses]
                    assert left == sorted(left, reverse=True), statuses  # creation order
                    if all(status == "completed" for status in statuses):
                        break
                    await asyncio.sleep(0.02)
            wall = time.monotonic() - started
            assert most == 2
            for number, run in enumerate(runs):
                page = (await clients[0].get(f"/threads/{run['thread_id']}/messages")).json()
                assert page["data"][0]["content"][0]["text"]["value"] == f"Echo: turn {number}"
            print(f"\n6 runs of 300 ms, cap 2 across 2 replicas: all done in {wall:.2f} s (ideal 0.9)")
        finally:
            for client in clients:
                await client.aclose()
