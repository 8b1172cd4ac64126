"""The millisecond-precision finish time of a run (`GET /_threadloom/runs/{run_id}/finished`)."""

from __future__ import annotations

import asyncio
import time

from threadloom.threads_server.testing import app_client


async def test_finish_time_in_ms_matches_completed_at(db) -> None:
    async with app_client(db) as (client, _app):
        assistant = (await client.post("/assistants", json={"model": "echo"})).json()
        thread = (await client.post("/threads")).json()
        await client.post(f"/threads/{thread['id']}/messages", json={"role": "user", "content": "hi"})
        before_ms = time.time() * 1000
        run = (
            await client.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
        ).json()
        finished_url = f"http://test/_threadloom/runs/{run['id']}/finished"
        for _ in range(200):
            run = (await client.get(f"/threads/{thread['id']}/runs/{run['id']}")).json()
            if run["status"] == "completed":
                break
            await asyncio.sleep(0.01)
        assert run["status"] == "completed"
        finished = (await client.get(finished_url)).json()
        assert finished["id"] == run["id"]
        assert finished["status"] == "completed"
        assert before_ms <= finished["finished_at_ms"] <= time.time() * 1000
        # Recorded just after the commit that set `completed_at` (whole seconds, truncated).
        assert 0 <= finished["finished_at_ms"] / 1000 - run["completed_at"] < 2


async def test_unknown_or_active_run_is_404(db) -> None:
    async with app_client(db) as (client, _app):
        answer = await client.get("http://test/_threadloom/runs/run_unknown/finished")
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == "No finished run found with id 'run_unknown'."
