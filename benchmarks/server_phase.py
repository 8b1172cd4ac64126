"""`threadloom bench --server`: the threads server's cost per turn on each storage setup, side by side.

For each setup (`sqlite`, `postgresql`; `postgresql:N` for N replicas) the phase starts threads
server process(es) on that storage, a real turn worker pointed at them, and runs the same batch of
instant turns through the engine: turns/s, and CPU ms per turn of the threads server processes and of
PostgreSQL. The setups run one after the other in one invocation, on the same Temporal dev server, so
their ratio is measured side by side (on a shared machine, the absolute numbers are not).

PostgreSQL is a throwaway local cluster (`local_postgres`, with durable settings: fsync on, as a
deployment runs it); each setup gets its own fresh database.

Replicas: for N > 1, `start_replicas` starts N server processes on one database behind one address
(`replica_servers`: a round-robin TCP proxy in the bench process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from threadloom.benchmarks import cpu, drivers
from threadloom.benchmarks.local_postgres import PostgresServer, find_bin_dir
from threadloom.benchmarks.replica_servers import replica_servers
from threadloom.benchmarks.report import Report
from threadloom.benchmarks.scenarios import RunLength, Scenarios
from threadloom.benchmarks.stack import Stack, threads_server, worker_process
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient

TARGET_RATIO = 0.8
"""PostgreSQL with one replica at >= 0.8 x SQLite's turns/s (issue 13)."""
WARM_UP_TURNS = 10


@dataclass(frozen=True)
class Setup:
    """One storage setup: a backend and how many server processes share it."""

    backend: str
    replicas: int = 1

    @classmethod
    def parse_list(cls, text: str) -> list[Setup]:
        """`sqlite,postgresql,postgresql:3`."""
        setups = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            backend, _, count = item.partition(":")
            if backend not in ("sqlite", "postgresql") or (count and not count.isdigit()):
                raise ValueError(f"bad --server setup {item!r}: want sqlite, postgresql or postgresql:N")
            setups.append(cls(backend, int(count or 1)))
        return setups

    @property
    def label(self) -> str:
        """The batch's name in the table (`sqlite`, `pg x1`)."""
        return "sqlite" if self.backend == "sqlite" else f"pg x{self.replicas}"


@contextlib.asynccontextmanager
async def start_replicas(
    stack: Stack, setup: Setup, database: str | None
) -> AsyncIterator[tuple[str, str]]:
    """The setup's server process(es); yields the base and root URL clients and the worker use.

    The hook for N replicas: start N `threads_server` processes on `database` and yield the address
    that spreads requests over them.
    """
    if setup.replicas != 1:
        assert database is not None, "replicas share a PostgreSQL database"
        async with replica_servers(stack.home, database, setup.replicas) as urls:
            yield urls
        return
    name = f"server-{setup.backend}"
    async with contextlib.asynccontextmanager(threads_server)(
        stack.home, database=database, name=name
    ) as urls:
        yield urls


async def _one_setup(
    args: argparse.Namespace, report: Report, stack: Stack, setup: Setup, pg: PostgresServer | None
) -> dict[str, Any] | None:
    database = None
    if setup.backend == "postgresql":
        if pg is None:
            return None
        database = await asyncio.to_thread(pg.create_database)
    async with start_replicas(stack, setup, database) as (base_url, root_url):
        here = dataclasses.replace(stack, threads_base_url=base_url, root_url=root_url)
        async with (
            worker_process(here, "turn") as worker,
            ThreadsClient(base_url, max_retries=0, timeout=120) as threads,
        ):
            assistant = await threads.assistants.create(model="echo", name="bench server phase")
            scenarios = Scenarios(threads, root_url, assistant.id)
            try:
                loom = Threadloom(stack.client, task_queue=worker.task_queue)
                driver = drivers.threadloom_driver(loom)
                instant = RunLength(0, 0)
                warm = min(WARM_UP_TURNS, args.server_turns)
                await scenarios.run("warm-up", driver, instant, concurrency=5, turns=warm)
                before, pg_before = cpu.snapshot(), pg.cpu_seconds() if pg else 0.0
                batch = await scenarios.run(
                    setup.label,
                    driver,
                    instant,
                    concurrency=args.server_concurrency,
                    turns=args.server_turns,
                )
                spent = cpu.per_turn_ms(before, cpu.snapshot(), batch.completed)
                pg_ms = (pg.cpu_seconds() - pg_before) * 1000 / max(batch.completed, 1) if pg else 0
            finally:
                await scenarios.aclose()
    found = report.add(batch)
    turns_per_s = found["turns_per_s"]
    figures = {"turns/s": None if turns_per_s is None else round(turns_per_s, 2)}
    figures["threads server CPU ms/turn"] = spent.get("threads server")
    if setup.backend == "postgresql":
        figures["PostgreSQL CPU ms/turn"] = round(pg_ms, 1)
    figures["worker CPU ms/turn"] = spent.get("worker (turn)")
    return figures


async def server_phase(args: argparse.Namespace, report: Report, stack: Stack) -> None:
    """Run every `--server` setup and record the side-by-side figures and the 0.8 x target."""
    setups = Setup.parse_list(args.server)
    pg: PostgresServer | None = None
    results: dict[str, Any] = {}
    if any(s.backend == "postgresql" for s in setups):
        if find_bin_dir() is None:
            results["postgresql"] = "not run: no PostgreSQL binaries (apt-get install postgresql)"
        else:
            pg = await asyncio.to_thread(PostgresServer.start, durable=True)
    try:
        for setup in setups:
            try:
                found = await _one_setup(args, report, stack, setup, pg)
            except NotImplementedError as missing:
                results[setup.label] = f"not run: {missing}"
                continue
            if found is not None:
                results[setup.label] = found
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.close)
    report.extra[f"server phase (concurrency {args.server_concurrency})"] = results
    sqlite, single = results.get("sqlite"), results.get("pg x1")
    if isinstance(sqlite, dict) and isinstance(single, dict):
        ratio = (single["turns/s"] or 0) / sqlite["turns/s"] if sqlite["turns/s"] else 0.0
        report.target(
            f"server phase: PostgreSQL x1 >= {TARGET_RATIO} x SQLite turns/s",
            ratio >= TARGET_RATIO,
            f"{single['turns/s']:.1f} vs {sqlite['turns/s']:.1f} turns/s = {ratio:.2f} x",
        )
