"""SIGTERM on a real server process, and how a model backend's error answers fail a run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tests.ports import free_port
from tests.server.helpers import Api, new_assistant, new_thread, parse_sse, wait_until, waiting_run
from threadloom.threads_server.settings import LLMSettings
from threadloom.threads_server.testing import serve


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[list[tuple[int, dict[str, str]]], str]]:
    """A model backend that answers each request with the next scripted (status, headers)."""
    script: list[tuple[int, dict[str, str]]] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete() -> JSONResponse:
        status, headers = script.pop(0)
        return JSONResponse({"error": {"message": "nope"}}, status_code=status, headers=headers)

    async with serve(app) as root:
        yield script, f"{root}/v1"


async def test_upstream_4xx_is_invalid_prompt_and_429_carries_retry_after(make_api, upstream) -> None:
    script, base_url = upstream
    api: Api
    async with make_api(llm=LLMSettings(base_url=base_url)) as api:
        assistant = await api.assistant(model="no-such-model")
        thread = await api.thread("hi")
        for status, headers, code in (
            (400, {}, "invalid_prompt"),
            (404, {}, "invalid_prompt"),
            (429, {"retry-after": "7"}, "rate_limit_exceeded"),
            (503, {}, "server_error"),
        ):
            script.append((status, headers))
            run = await api.wait(await api.run(thread["id"], assistant["id"]))
            assert run["status"] == "failed", status
            assert run["last_error"]["code"] == code, status
            assert str(status) in run["last_error"]["message"]
            assert run["last_error"].get("retry_after_seconds") == (7 if status == 429 else None)
            steps = await api.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}/steps")
            assert steps["data"] == []


def _start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "THREADLOOM_SERVER_SHUTDOWN_GRACE_SECONDS": "1"}
    args = ["--db", str(db), "--port", str(port), "--faults"]
    return subprocess.Popen([sys.executable, "-m", "threadloom.threads_server", *args], env=env)


async def _ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if (await client.get("/threads/thread_none")).status_code == 404:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start within 20 s"
        await asyncio.sleep(0.05)


async def test_sigterm_ends_streams_and_keeps_waiting_runs(db) -> None:
    port = free_port()
    process = _start_server(db, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=30) as client:
            await _ready(client)
            assistant_id = await new_assistant(client)
            waiting = await waiting_run(client, assistant_id)
            thread_id = await new_thread(client, "stall")
            body = {"assistant_id": assistant_id, "stream": True, "metadata": {"fault": "stall"}}
            async with client.stream("POST", f"/threads/{thread_id}/runs", json=body) as stream:
                lines = stream.aiter_lines()
                seen: list[str] = []
                while not any("thread.run.in_progress" in line for line in seen):
                    seen.append(await anext(lines))
                path = f"/threads/{waiting['thread_id']}/runs/{waiting['id']}"
                poll = asyncio.ensure_future(client.get(path, params={"wait_ms": 10_000}))
                await asyncio.sleep(0.2)
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                rest = "\n".join(seen) + "\n" + "\n".join([line async for line in lines])
                polled = await poll
            events = parse_sse(rest)
            handed_over = isinstance(db, str)  # PostgreSQL: to the next replica, not failed
            if handed_over:
                assert [name for name, _ in events][-2:] == ["error", "done"]
                assert events[-2][1]["error"]["code"] == "run_handed_over"
            else:
                assert [name for name, _ in events][-2:] == ["thread.run.failed", "done"]
                assert events[-2][1]["last_error"] == {
                    "code": "server_error",
                    "message": "Run interrupted by a server shutdown.",
                }
            assert polled.status_code == 200 and polled.json()["status"] == "requires_action"
            await asyncio.to_thread(process.wait, 15)
            # Grace 1 s, then connections get at most 3 s: well before the run's 600 s expiry.
            assert time.monotonic() - started < 8
        process = _start_server(db, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", timeout=30) as client:
            await _ready(client)
            if handed_over:  # the next server executes it again (its fault was used up)
                stalled = f"/threads/{thread_id}/runs/{events[0][1]['id']}"
                params = {"wait_ms": 10_000, "if_status": "queued,in_progress"}
                assert (await client.get(stalled, params=params)).json()["status"] == "completed"
            still: dict[str, Any] = (await client.get(path)).json()
            assert still["status"] == "requires_action"
            (call,) = still["required_action"]["submit_tool_outputs"]["tool_calls"]
            answered = await client.post(
                f"{path}/submit_tool_outputs",
                json={"tool_outputs": [{"tool_call_id": call["id"], "output": "42"}], "stream": True},
            )
            assert [name for name, _ in parse_sse(answered.text)][-2:] == [
                "thread.run.completed",
                "done",
            ]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            await wait_until(lambda: process.poll() is not None, "the server to stop", 15)
