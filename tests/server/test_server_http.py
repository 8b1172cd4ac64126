"""Over a real socket: long-poll, restart recovery, auth, the request counter."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.server.helpers import ECHO_TOOLS, checked_client
from tests.server.spec import SpecValidator
from threadloom.threads_server.testing import running_server


async def _setup(client: httpx.AsyncClient, text: str) -> tuple[str, str]:
    assistant = (await client.post("/assistants", json={"model": "echo", "tools": ECHO_TOOLS})).json()
    thread = (
        await client.post("/threads", json={"messages": [{"role": "user", "content": text}]})
    ).json()
    return assistant["id"], thread["id"]


async def _completed(client: httpx.AsyncClient, thread_id: str, run_id: str) -> dict[str, Any]:
    """The run once it completed (long-polled), after checking the thread holds one reply to it."""
    run: dict[str, Any] = (
        await client.get(
            f"/threads/{thread_id}/runs/{run_id}",
            params={"wait_ms": 10_000, "if_status": "queued,in_progress"},
        )
    ).json()
    assert run["status"] == "completed"
    listed = (await client.get(f"/threads/{thread_id}/messages", params={"run_id": run_id})).json()
    assert [m["role"] for m in listed["data"]] == ["assistant"]
    return run


async def test_long_poll_returns_when_the_run_changes(db, spec: SpecValidator) -> None:
    async with running_server(db, faults_enabled=True, long_poll_max_ms=5000) as server:
        async with checked_client(server.base_url, spec) as client:
            assistant_id, thread_id = await _setup(client, "hi")
            run = (
                await client.post(
                    f"/threads/{thread_id}/runs",
                    json={"assistant_id": assistant_id, "metadata": {"fault": "delay=400"}},
                )
            ).json()
            path = f"/threads/{thread_id}/runs/{run['id']}"
            # Immediately, when the status already differs from `if_status`.
            started = time.monotonic()
            quick = await client.get(path, params={"wait_ms": 5000, "if_status": "requires_action"})
            assert time.monotonic() - started < 0.3
            assert quick.headers["threadloom-long-poll-max-ms"] == "5000"
            assert "openai-poll-after-ms" in quick.headers
            # Held until the run ends, then answered promptly (on PostgreSQL a replica claims the
            # run a moment after the create, so it may still be queued here).
            started = time.monotonic()
            held = await client.get(path, params={"wait_ms": 5000, "if_status": "queued,in_progress"})
            elapsed = time.monotonic() - started
            assert held.json()["status"] == "completed"
            assert 0.2 < elapsed < 1.5
            assert "openai-poll-after-ms" not in held.headers
            # A terminal run is answered at once even without if_status.
            started = time.monotonic()
            await client.get(path, params={"wait_ms": 5000})
            assert time.monotonic() - started < 0.3
            # wait_ms without a change returns after the wait (capped by the server maximum).
            stall = (
                await client.post(
                    f"/threads/{thread_id}/runs",
                    json={"assistant_id": assistant_id, "metadata": {"fault": "stall"}},
                )
            ).json()
            stall_path = f"/threads/{thread_id}/runs/{stall['id']}"
            await client.get(stall_path, params={"wait_ms": 1000, "if_status": "queued"})
            started = time.monotonic()
            still = await client.get(stall_path, params={"wait_ms": 200})
            assert 0.15 < time.monotonic() - started < 1.0
            assert still.json()["status"] == "in_progress"


async def test_restart_fails_executing_runs_and_keeps_waiting_ones(db, spec: SpecValidator):
    async with running_server(db, faults_enabled=True) as server:
        async with checked_client(server.base_url, spec) as client:
            assistant_id, thread_id = await _setup(client, "/tool lookup")
            waiting = (
                await client.post(f"/threads/{thread_id}/runs", json={"assistant_id": assistant_id})
            ).json()
            _, other_thread = await _setup(client, "stall")
            stalled = (
                await client.post(
                    f"/threads/{other_thread}/runs",
                    json={"assistant_id": assistant_id, "metadata": {"fault": "stall"}},
                )
            ).json()
            for _ in range(50):
                got = (await client.get(f"/threads/{thread_id}/runs/{waiting['id']}")).json()
                if got["status"] == "requires_action":
                    break
                await asyncio.sleep(0.02)
            assert got["status"] == "requires_action"
    async with running_server(db) as server:
        async with checked_client(server.base_url, spec) as client:
            after = (await client.get(f"/threads/{other_thread}/runs/{stalled['id']}")).json()
            if isinstance(db, str):  # PostgreSQL: the run was handed over, and executes again
                after = await _completed(client, other_thread, stalled["id"])
            else:
                assert after["status"] == "failed"
                assert after["last_error"]["code"] == "server_error"
                assert after["expires_at"] is None and after["failed_at"] is not None
            # The thread is usable again.
            ok = await client.post(
                f"/threads/{other_thread}/messages", json={"role": "user", "content": "again"}
            )
            assert ok.status_code == 200
            # Nothing was executing the run that waited for outputs: it still waits, and takes them.
            still = (await client.get(f"/threads/{thread_id}/runs/{waiting['id']}")).json()
            assert still["status"] == "requires_action"
            assert still["expires_at"] == got["expires_at"]
            (call,) = still["required_action"]["submit_tool_outputs"]["tool_calls"]
            submitted = await client.post(
                f"/threads/{thread_id}/runs/{waiting['id']}/submit_tool_outputs",
                json={"tool_outputs": [{"tool_call_id": call["id"], "output": "42"}]},
            )
            assert submitted.status_code == 200, submitted.text
            done = (
                await client.get(
                    f"/threads/{thread_id}/runs/{waiting['id']}",
                    params={"wait_ms": 5000, "if_status": "queued,in_progress"},
                )
            ).json()
            assert done["status"] == "completed"


async def test_api_key_is_required_when_configured(db, spec: SpecValidator) -> None:
    async with running_server(db, api_key="sekret") as server:
        async with checked_client(server.base_url, spec) as client:
            missing = await client.post("/threads")
            assert missing.status_code == 401
            assert missing.json()["error"]["code"] == "invalid_api_key"
            wrong = await client.post("/threads", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert wrong.json()["error"]["message"] == "Incorrect API key provided."
            bearer = await client.post("/threads", headers={"Authorization": "Bearer sekret"})
            assert bearer.status_code == 200
            azure = await client.get(
                f"/threads/{bearer.json()['id']}",
                headers={"api-key": "sekret"},
                params={"api-version": "2024-05-01-preview"},
            )
            assert azure.status_code == 200
            # Every route but the health check needs the key, the threadloom controls included.
            root = server.root_url
            assert (await client.get(f"{root}/_threadloom/health")).status_code == 200
            for method, path in (
                ("GET", "/_threadloom/stats"),
                ("POST", "/_threadloom/stats/reset"),
                ("POST", "/_threadloom/faults"),
                ("GET", "/openapi.json"),
                ("GET", "/docs"),
                ("GET", "/redoc"),
                ("GET", "/no/such/route"),
            ):
                refused = await client.request(method, f"{root}{path}")
                assert refused.status_code == 401, path
                assert refused.json()["error"]["code"] == "invalid_api_key", path
            keyed = {"Authorization": "Bearer sekret"}
            stats = await client.get(f"{root}/_threadloom/stats", headers=keyed)
            assert stats.status_code == 200
            assert (await client.get(f"{root}/openapi.json", headers=keyed)).status_code == 200


async def test_request_counter(db, spec: SpecValidator) -> None:
    async with running_server(db) as server:
        async with checked_client(server.base_url, spec) as client:
            stats = f"{server.root_url}/_threadloom/stats"
            await client.post(f"{stats}/reset")
            thread = (await client.post("/threads")).json()
            for _ in range(3):
                await client.get(f"/threads/{thread['id']}")
            counted = (await client.get(stats)).json()["requests"]
            assert counted["total"] == 4
            assert counted["by_route"] == {
                "POST /v1/threads": 1,
                "GET /v1/threads/{thread_id}": 3,
            }
            await client.post(f"{stats}/reset")
            assert (await client.get(stats)).json()["requests"]["total"] == 0


async def test_long_poll_holds_while_the_status_is_any_of_several(db, spec: SpecValidator) -> None:
    async with running_server(db, faults_enabled=True, long_poll_max_ms=5000) as server:
        async with checked_client(server.base_url, spec) as client:
            assistant_id, thread_id = await _setup(client, "hi")
            for params in (
                {"wait_ms": 5000, "if_status": "queued,in_progress"},
                [("wait_ms", 5000), ("if_status", "queued"), ("if_status", "in_progress")],
            ):
                run = (
                    await client.post(
                        f"/threads/{thread_id}/runs",
                        json={"assistant_id": assistant_id, "metadata": {"fault": "delay=1500"}},
                    )
                ).json()
                path = f"/threads/{thread_id}/runs/{run['id']}"
                started = time.monotonic()
                held = await client.get(path, params=params)
                elapsed = time.monotonic() - started
                assert held.status_code == 200
                assert held.json()["status"] == "completed"
                assert held.headers["threadloom-long-poll-if-status"] == "several"
                assert 1.2 < elapsed < 4.5  # held until the run ended (1.5 s), not the 5 s wait
            # A status not in the list answers at once.
            started = time.monotonic()
            quick = await client.get(path, params={"wait_ms": 5000, "if_status": "queued, cancelling"})
            assert quick.json()["status"] == "completed" and time.monotonic() - started < 2.5
            for bad in ("queued,bogus", "", ",", "Queued"):
                response = await client.get(path, params={"wait_ms": 10, "if_status": bad})
                assert response.status_code == 400, bad
                assert response.json()["error"]["param"] == "if_status"
