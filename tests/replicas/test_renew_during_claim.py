"""A lease renewal that comes while a run's claim is still in flight leaves that claim alone.

The renewal loop used to renew every run the replica had a task for, a claim in flight included: that
run had no lease yet, so the renewal found it "lost" and cancelled its task, the cancelled claim handed
the run back, and the sweep took it over as if its executor had died (CI saw a `stall`-fault run on a
loaded PostgreSQL complete, its fault skipped by the takeover). A slow claim transaction makes the
window wide enough to hit every time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from threadloom.threads_server.storage import leases
from threadloom.threads_server.testing import app_client

CLAIM_SECONDS = 0.6  # longer than the renewal period (a third of the 0.9 s lease)


async def test_a_renewal_during_a_slow_claim_does_not_take_the_run_over(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = leases.take_over_and_begin

    def slow_claim(*args: Any, **kwargs: Any) -> Any:
        time.sleep(CLAIM_SECONDS)  # on the database thread, inside the claim's transaction
        return real(*args, **kwargs)

    monkeypatch.setattr(leases, "take_over_and_begin", slow_claim)
    async with app_client(postgres_url, faults_enabled=True, replica_lease_seconds=0.9) as (client, _):
        assistant = (await client.post("/assistants", json={"model": "echo"})).json()
        thread = (
            await client.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]})
        ).json()
        run = (
            await client.post(
                f"/threads/{thread['id']}/runs",
                json={"assistant_id": assistant["id"], "metadata": {"fault": "stall"}},
            )
        ).json()
        path = f"/threads/{thread['id']}/runs/{run['id']}"
        started = (await client.get(path, params={"wait_ms": 5000, "if_status": "queued"})).json()
        assert started["status"] == "in_progress"
        await asyncio.sleep(3 * CLAIM_SECONDS + 1)  # several renewals and sweeps later
        still = (await client.get(path)).json()
        assert still["status"] == "in_progress", "the stalled run was taken over and answered"
        messages = (await client.get(f"/threads/{thread['id']}/messages")).json()["data"]
        assert [m["role"] for m in messages] == ["user"]
