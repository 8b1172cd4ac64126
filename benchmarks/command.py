"""`threadloom bench`: bring up a private stack, run the scenarios, print the table (or JSON).

Order: side-by-side batches per run length (threadloom, the seed's loop, the openai SDK); engine
overhead at concurrency 1 (threadloom against the direct loop); throughput against the no-op baseline;
then the in-flight batch with the worker's memory; then, with `--crash`, turns while the worker is
SIGKILLed and restarted (`benchmarks.crash`); then the server phase, the same turns on each storage
setup of `--server` (`benchmarks.server_phase`); then, with `--retrieval`, after the stack has
stopped, ingestion and search on each backend (`benchmarks.retrieval_phase`). An empty `--run-ms`
or `--throughput`, `--turns 0` and `--in-flight 0` and `--server ''` skip their phases. Each figure is
compared with its DESIGN.md target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from typing import Any

from threadloom.benchmarks import (
    crash,
    in_flight,
    limited_model,
    phases,
    server_phase,
    streaming_phase,  # streaming turns (issue 15)
)
from threadloom.benchmarks.report import Report, table
from threadloom.benchmarks.scenarios import Scenarios
from threadloom.benchmarks.stack import bench_stack, worker_process
from threadloom.starter.api import Threadloom
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient


async def bench_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the benchmark on its own stack (`settings` are not used: nothing external is touched)."""
    report = Report(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), _parameters(args))
    if "THREADLOOM_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)  # the table is the output, not HTTP logs
    slots = () if args.local_activities is None else ("--local-activities", str(args.local_activities))
    stack_options = {
        "partitions": args.partitions,
        "dynamic_config": args.dynamic_config,
        "worker_args": slots,
    }
    async with bench_stack(**stack_options) as stack, worker_process(stack, "turn") as worker:
        async with ThreadsClient(stack.threads_base_url, max_retries=0, timeout=120) as threads:
            assistant = await threads.assistants.create(model="echo", name="bench")
            seeded = {} if args.seed is None else {"seed": args.seed}
            scenarios = Scenarios(threads, stack.root_url, assistant.id, **seeded)
            crash_ok = True
            try:
                loom = Threadloom(stack.client, task_queue=worker.task_queue)
                if args.turns:
                    await phases.warm_up(args, scenarios, loom)
                if args.run_ms.strip():
                    await phases.side_by_side(args, report, scenarios, loom, threads, stack)
                if args.turns:
                    await phases.overhead(args, report, scenarios, loom, threads, stack)
                if args.throughput.strip():
                    await phases.throughput(args, report, scenarios, loom, stack, worker)
                if args.in_flight:
                    await in_flight.in_flight(args, report, scenarios, loom, stack, worker)
                await limited_model.phase(args, report, stack)
                await streaming_phase.streaming_phase(  # streaming turns (issue 15)
                    args, report, stack, assistant.id, worker.task_queue
                )
                if args.crash:
                    crash_ok = await crash.crash(args, report, scenarios, threads, stack, assistant.id)
                if args.server.strip():
                    await server_phase.server_phase(args, report, stack)
            finally:
                await scenarios.aclose()
    if args.retrieval:  # after the stack is down: it needs none of it
        from threadloom.benchmarks.retrieval_phase import retrieval_phase

        await retrieval_phase(args, report)
    report.parameters["load_avg_after"] = os.getloadavg()
    report.size()
    print(report.to_json() if args.json else table(report))
    return 1 if any(b["errors"] for b in report.batches) or not crash_ok else 0


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    names = ["run_ms", "turns", "concurrency", "throughput", "throughput_turns", "partitions"]
    names.append("dynamic_config")
    found: dict[str, Any] = {name: getattr(args, name) for name in names}
    found |= {"in_flight": args.in_flight, "in_flight_run_ms": args.in_flight_run_ms}
    found |= {"crash": args.crash, "crash_kills": args.crash_kills, "crash_run_ms": args.crash_run_ms}
    found["crash_standby"] = args.crash_standby
    found |= {"server": args.server, "server_turns": args.server_turns}
    found["server_concurrency"] = args.server_concurrency
    found["seed"] = args.seed
    if getattr(args, "retrieval", False):
        found["retrieval"] = {"chunks": args.retrieval_chunks, "backends": args.retrieval_backends}
    found |= {"cpu_hog": args.cpu_hog, "heartbeat_seconds": args.heartbeat_seconds}
    found["local_activities"] = args.local_activities
    found["first_read_ms"] = args.first_read_ms
    found |= {"stream_turns": args.stream_turns, "stream_deltas": args.stream_deltas}  # streaming
    found["stream_delay_ms"] = args.stream_delay_ms
    found |= {"cpus": os.cpu_count(), "load_avg_before": os.getloadavg()}
    found["python"] = sys.version.split()[0]
    return found
