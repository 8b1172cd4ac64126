"""Threads server replicas as real processes on one PostgreSQL database (and the round-robin proxy).

```python
async with replicas(url, tmp_path, 3, THREADLOOM_SERVER_REPLICA_LEASE_SECONDS="1") as servers:
    async with RoundRobinProxy([s.port for s in servers]) as proxy:
        ThreadsClient(proxy.base_url)       # each new connection goes to the next live replica
    servers[0].kill()                        # SIGKILL
```
Each process writes its output to a file in `tmp_path` (no pipe to drain); `log()` reads it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.ports import free_port
from threadloom.benchmarks.round_robin import RoundRobinProxy

__all__ = ["Replica", "RoundRobinProxy", "free_port", "replicas", "start_replica", "wait_ready"]


@dataclass
class Replica:
    """One `python -m threadloom.threads_server` process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown, leases left to lapse."""
        self.process.kill()
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_replica(url: str, tmp_path: Path, name: str, **env: str) -> Replica:
    """Start one replica (faults enabled) on a free port; `env` adds `THREADLOOM_SERVER_*` settings."""
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as out:
        args = ["--db", url, "--port", str(port), "--faults"]
        process = subprocess.Popen(
            [sys.executable, "-m", "threadloom.threads_server", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, port, process, log_path)


async def wait_ready(replica: Replica, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=replica.root_url) as client:
        while True:
            assert replica.process.poll() is None, f"{replica.name} exited:\n{replica.log()}"
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/_threadloom/health")).status_code == 200:
                    return
            assert time.monotonic() < deadline, f"{replica.name} did not start:\n{replica.log()}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def replicas(url: str, tmp_path: Path, count: int, **env: str) -> AsyncIterator[list[Replica]]:
    """`count` replicas on `url`, ready; each is stopped (SIGTERM, then SIGKILL) afterwards."""
    started = [start_replica(url, tmp_path, f"replica-{i}", **env) for i in range(count)]
    try:
        await asyncio.gather(*(wait_ready(replica) for replica in started))
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in started:
            try:
                await asyncio.to_thread(replica.process.wait, 20)
            except subprocess.TimeoutExpired:
                replica.kill()
