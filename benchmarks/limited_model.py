"""The limited-model phase: turns against a model backend that serves only a few requests at once.

A fake chat-completions backend runs in the benchmark process on a real socket: it answers at most
`CONCURRENT_REQUESTS` requests at a time (each after `REPLY_MS`) and answers every request beyond
that 429 with `Retry-After: RETRY_AFTER_SECONDS`. A threads server of this phase's own (a process,
as in the main stack) runs its assistant on that backend, and a worker process of its own runs the
turns, which all start at once. Reported, per column: turns completed, turns failed, 429s seen by
the threads server (every request the backend refused), the most requests it held at once, and the
wall time.

Two columns, one batch each, side by side in one run, on one backend, server and worker: the server
runs with `--model-concurrency limited-model=5`, which caps one model name only, so
- "without cap": the turns' assistant uses another model name on the same backend: every run hits
  the model at once; each 429 fails its run `rate_limit_exceeded`, and the engine starts a new run
  after `Retry-After` with backoff (`workflows.rate_limits`);
- "with server cap": the assistant uses `limited-model`: runs past 5 stay `queued` and start in
  order as others finish (issue 17, section 3), so the backend refuses nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from threadloom.benchmarks.report import Report
from threadloom.benchmarks.stack import BenchStackError, Stack, free_port, stop_process, worker_process
from threadloom.starter.api import Threadloom
from threadloom.starter.errors import TurnError
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import TurnRequest, UserMessage

CONCURRENT_REQUESTS = 5
RETRY_AFTER_SECONDS = 1
REPLY_MS = 200
START_SECONDS = 60
COLUMNS = ("without cap", "with server cap")
ROWS = ("turns completed", "turns failed", "429s seen by the server", "most requests at once")
MODEL = "limited-model"
"""The model the server caps at `CONCURRENT_REQUESTS` ("with server cap")."""
UNCAPPED_MODEL = "limited-model-uncapped"
"""The same backend under a model name no cap names ("without cap")."""


@dataclasses.dataclass
class LimitedBackend:
    """An OpenAI-compatible chat-completions app that refuses what it cannot take right now."""

    concurrency: int = CONCURRENT_REQUESTS
    busy: int = 0
    most: int = 0
    refused: int = 0
    answered: int = 0

    def reset(self) -> None:
        """Zero the counters (between batches)."""
        self.most = self.refused = self.answered = 0

    def app(self) -> FastAPI:
        """The ASGI app: `POST /v1/chat/completions`."""
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> JSONResponse:
            if self.busy >= self.concurrency:
                self.refused += 1
                return JSONResponse(
                    {"error": {"message": "rate limited", "type": "rate_limit_exceeded"}},
                    status_code=429,
                    headers={"retry-after": str(RETRY_AFTER_SECONDS)},
                )
            self.busy += 1
            self.most = max(self.most, self.busy)
            try:
                await request.body()
                await asyncio.sleep(REPLY_MS / 1000)
            finally:
                self.busy -= 1
            self.answered += 1
            message = {"role": "assistant", "content": "a limited reply"}
            return JSONResponse(
                {
                    "id": f"chatcmpl_{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                }
            )

        return app


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this event loop on a free loopback port; yields its root URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise BenchStackError("the fake model backend did not start")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def model_threads_server(
    home: Path, model_url: str, cap: int | None = None
) -> AsyncIterator[tuple[str, str]]:
    """A threads server process whose assistants run on `model_url` (at most `cap` runs of `MODEL`
    in progress, when given); yields (base URL, root URL)."""
    port = free_port()
    name = "limited-threads"
    command = [sys.executable, "-m", "threadloom.threads_server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--db", str(home / f"{name}.db")]
    command += ["--responder", "chat_completions"]
    if cap is not None:
        command += ["--model-concurrency", f"{MODEL}={cap}"]
    env = {**_environ(), "THREADLOOM_LLM_BASE_URL": f"{model_url}/v1"}
    with (home / f"{name}-server.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=log, stderr=asyncio.subprocess.STDOUT, env=env
        )
    root = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(process, root)
        yield f"{root}/v1", root
    finally:
        await stop_process(process)


async def _wait_healthy(process: asyncio.subprocess.Process, root: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise BenchStackError(f"the threads server exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{root}/_threadloom/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise BenchStackError("the limited-model threads server did not start")


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("THREADLOOM_LLM_")}


async def _run_turns(loom: Threadloom, threads: ThreadsClient, turns: int, model: str) -> dict[str, Any]:
    """Start `turns` turns of `model` at once, each on its own thread; count how they ended."""
    assistant = await threads.assistants.create(model=model, name="limited bench")
    thread_ids = [(await threads.threads.create()).id for _ in range(turns)]

    async def one(thread_id: str) -> str | None:
        request = TurnRequest(
            thread_id=thread_id,
            assistant_id=assistant.id,
            message=UserMessage(text="Hello, busy model."),
            turn_key=uuid.uuid4().hex,
        )
        try:
            await loom.run_turn(request)
        except TurnError as error:
            return f"{error.type}: {error.message}"
        return None

    started = time.monotonic()
    errors = [e for e in await asyncio.gather(*(one(t) for t in thread_ids)) if e is not None]
    return {
        "turns": turns,
        "completed": turns - len(errors),
        "failed": len(errors),
        "first_error": errors[0] if errors else None,
        "wall_s": round(time.monotonic() - started, 2),
    }


class Figures(dict[str, Any]):
    """The phase's figures: a dict in the JSON report, a small table in the printed one."""

    def __str__(self) -> str:
        columns = self["columns"]
        lines = [f"{self['setup']}", f"  {'':<28}" + "".join(f"{c:>18}" for c in columns)]
        for row in (*ROWS, "wall time (s)"):
            cells = [_cell(self["runs"].get(c), row) for c in columns]
            lines.append(f"  {row:<28}" + "".join(f"{cell:>18}" for cell in cells))
        return "\n" + "\n".join(lines)


def _cell(run: dict[str, Any] | None, row: str) -> str:
    if run is None:
        return "-"
    key = {
        "turns completed": "completed",
        "turns failed": "failed",
        "429s seen by the server": "refused_429",
        "most requests at once": "most_at_once",
        "wall time (s)": "wall_s",
    }[row]
    value = run[key]
    return f"{value}/{run['turns']}" if key in ("completed", "failed") else f"{value}"


async def phase(args: argparse.Namespace, report: Report, stack: Stack) -> None:
    """Run the limited-model batches (`--limited-model N`; 0 skips) and add their figures.

    One backend, threads server and worker serve both batches (the cap names one model only):
    "without cap" runs on `UNCAPPED_MODEL`, "with server cap" on `MODEL`, one batch after the other,
    the backend's counters reset in between.
    """
    turns = args.limited_model
    if not turns:
        return
    backend = LimitedBackend()
    runs: dict[str, dict[str, Any]] = {}
    async with serving(backend.app()) as model_url:
        async with model_threads_server(stack.home, model_url, CONCURRENT_REQUESTS) as urls:
            base_url, root = urls
            limited = dataclasses.replace(stack, threads_base_url=base_url, root_url=root)
            async with worker_process(limited, "turn") as worker:
                async with ThreadsClient(base_url, max_retries=0, timeout=120) as threads:
                    loom = Threadloom(stack.client, task_queue=worker.task_queue)
                    for column, model in zip(COLUMNS, (UNCAPPED_MODEL, MODEL), strict=True):
                        backend.reset()
                        found = await _run_turns(loom, threads, turns, model)
                        found |= {"refused_429": backend.refused, "answered": backend.answered}
                        runs[column] = found | {"most_at_once": backend.most}
    setup = (
        f"{turns} turns at once; the model serves {CONCURRENT_REQUESTS} requests at a time "
        f"({REPLY_MS} ms each), 429 + Retry-After: {RETRY_AFTER_SECONDS} s beyond; "
        f"server cap: {MODEL}={CONCURRENT_REQUESTS}"
    )
    report.extra["limited model"] = Figures(setup=setup, columns=list(COLUMNS), runs=runs)
