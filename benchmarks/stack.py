"""The benchmark's own stack: a Temporal dev server, the threads server and workers, as processes.

Everything listens on free 127.0.0.1 ports and keeps its state in a temporary directory. The threads
server and each worker run in their own process, so the benchmark's clients do not share an event loop
with them and the worker's peak memory (`VmHWM`) can be read from `/proc`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.workflows.contracts import SEARCH_ATTRIBUTES

START_SECONDS = 60


class BenchStackError(RuntimeError):
    """A part of the benchmark stack did not start."""


@dataclass(frozen=True)
class Stack:
    """Where the running parts are."""

    client: Client
    temporal_address: str
    threads_base_url: str
    root_url: str
    home: Path


@dataclass
class WorkerProcess:
    """A running worker process and its task queue."""

    process: asyncio.subprocess.Process
    task_queue: str
    drain: asyncio.Task[None] | None = None
    """Copies the worker's stdout to its log after `ready` (never leave a child's pipe undrained)."""

    def memory_kib(self) -> dict[str, int]:
        """`VmRSS` and `VmHWM` (peak resident size) of the worker, in KiB (Linux only)."""
        found: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0])
        return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after 15 s; nothing if it has exited already."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def threads_server(
    home: Path, *, database: str | None = None, name: str = "threads-server"
) -> AsyncIterator[tuple[str, str]]:
    """A threads server process on a free port (its database: `database`, else a SQLite file in
    `home`); yields its base and root URLs. The URL goes in the environment, not the command line."""
    port = free_port()
    log = (home / f"{name}.log").open("wb")
    env = {**os.environ, "THREADLOOM_SERVER_DATABASE_URL": database or str(home / f"{name}.db")}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "threadloom.threads_server", "--host", "127.0.0.1", "--port", str(port)),
        *("--faults", "--responder", "echo"),
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        async with httpx.AsyncClient() as http:
            while True:
                if process.returncode is not None:
                    raise BenchStackError(f"the threads server exited with {process.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{root}/_threadloom/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchStackError("the threads server did not start")
                await asyncio.sleep(0.05)
        yield f"{root}/v1", root
    finally:
        await stop_process(process)
        log.close()


@contextlib.asynccontextmanager
async def bench_stack(
    *, partitions: int | None = None, dynamic_config: list[str] | None = None
) -> AsyncIterator[Stack]:
    """Start the Temporal dev server (in memory) and the threads server; stop both on exit.

    `partitions` sets the task queues' read and write partitions (the server's default when None);
    `dynamic_config` holds more `KEY=VALUE` dynamic config values for the dev server.
    """
    extra: list[str] = []
    for value in dynamic_config or []:
        extra += ["--dynamic-config-value", value]
    if partitions is not None:
        for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions"):
            extra += ["--dynamic-config-value", f"{key}={partitions}"]
    with tempfile.TemporaryDirectory(prefix="threadloom-bench-") as tmp:
        home = Path(tmp)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=find_temporal_binary(),
            search_attributes=list(SEARCH_ATTRIBUTES),
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
            dev_server_extra_args=extra,
        )
        try:
            async with contextlib.asynccontextmanager(threads_server)(home) as (base_url, root):
                address = env.client.service_client.config.target_host
                yield Stack(env.client, address, base_url, root, home)
        finally:
            await env.shutdown()


async def start_worker(stack: Stack, kind: str, task_queue: str, log_name: str) -> WorkerProcess:
    """Start a worker process of `kind` on `task_queue` and wait until it polls (`ready`).

    Its stderr goes to `log_name` in the stack's home (appended: restarts share one log).
    """
    command = (
        *(sys.executable, "-m", "threadloom.benchmarks.worker_process", "--kind", kind),
        *("--temporal-address", stack.temporal_address, "--task-queue", task_queue),
        *("--threads-base-url", stack.threads_base_url),
    )
    process, drain = await start_ready_process(command, stack.home / log_name, what=f"the {kind} worker")
    return WorkerProcess(process, task_queue, drain)


async def start_ready_process(
    command: tuple[str, ...], log: Path, *, what: str
) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
    """Start `command`, wait for the `ready` line on its stdout, then keep its output flowing to `log`.

    Its stderr is appended to `log` from the start; whatever it prints after `ready` goes there too:
    an undrained pipe fills at 64 KiB and then blocks the writer, which once stalled a worker's
    pollers for minutes.
    """
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_SECONDS)
        if line.strip() != b"ready":
            tail = log.read_text(errors="replace")[-2000:]  # noqa: ASYNC240 (failing anyway)
            raise BenchStackError(f"{what} did not start:\n{tail}")
    except BaseException:
        await stop_process(process)
        raise
    return process, asyncio.create_task(drain_into(process.stdout, log))


async def drain_into(stream: asyncio.StreamReader, log: Path) -> None:
    """Copy `stream` to the end of `log` until it closes."""
    with log.open("ab") as out:
        while chunk := await stream.read(65_536):
            out.write(chunk)
            out.flush()


@contextlib.asynccontextmanager
async def worker_process(stack: Stack, kind: str) -> AsyncIterator[WorkerProcess]:
    """Run a worker of `kind` (`turn` or `noop`) on a fresh task queue until the block ends."""
    task_queue = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    worker = await start_worker(stack, kind, task_queue, f"worker-{kind}.log")
    try:
        yield worker
    finally:
        await stop_process(worker.process)
