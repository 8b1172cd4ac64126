"""The in-flight phase: `--in-flight` turns started at once, optionally beside a CPU hog.

It reports the worker's memory, the heartbeat RPCs the waits cost the dev server, and what overload
did to the turns, read from every completed turn's history (`benchmarks.overload`); the verdict needs
every turn back without a failure or stall and the lag bound. It leaves the memory per waiting turn,
the heartbeats and the history figures of such turns for the capacity model.
"""

from __future__ import annotations

import argparse

from threadloom.benchmarks import cpu, drivers, overload
from threadloom.benchmarks.figures import median
from threadloom.benchmarks.phases import policy
from threadloom.benchmarks.report import FILED, Report
from threadloom.benchmarks.scenarios import RunLength, Scenarios
from threadloom.benchmarks.stack import Stack, WorkerProcess
from threadloom.starter.api import Threadloom
from threadloom.workflows.contracts import TurnPolicy

IN_FLIGHT_LAG_TARGET_MS = 2_000


async def in_flight(
    args: argparse.Namespace,
    report: Report,
    scenarios: Scenarios,
    loom: Threadloom,
    stack: Stack,
    worker: WorkerProcess,
) -> None:
    """`--in-flight` turns started at once, each run lasting `--in-flight-run-ms` (beside a CPU hog
    with `--cpu-hog`); worker memory, heartbeat RPCs, and what overload did to the histories."""
    before, beats_before, cpu_before = (
        worker.memory_kib(),
        await overload.rpc_count(stack.metrics_url),
        cpu.snapshot(),
    )
    length = RunLength(args.in_flight_run_ms, args.in_flight_run_ms)
    async with overload.cpu_hog(args.cpu_hog):
        batch = await scenarios.run(
            "threadloom" + (" +hog" if args.cpu_hog else ""),
            drivers.threadloom_driver(loom, policy(args)),
            length,
            concurrency=args.in_flight,
            turns=args.in_flight,
        )
    spent = cpu.per_turn_ms(cpu_before, cpu.snapshot(), batch.completed)
    beats_after = await overload.rpc_count(stack.metrics_url)
    found = report.add(batch)
    after = worker.memory_kib()
    faults = await overload.faults_of(stack.client, [d.workflow_id for d in batch.done if d.workflow_id])
    report.extra["slowest in-flight turns"] = await overload.slowest_turns(
        stack.client, [(d.workflow_id, lag) for d, lag in batch.lagged if d.workflow_id]
    )
    failed = len(batch.errors) + len(batch.stalled)
    report.extra[f"in-flight CPU ms per turn{' (beside a CPU hog)' if args.cpu_hog else ''}"] = spent
    report.extra["in-flight overload (from the completed turns' histories)"] = {
        **faults.as_dict(),
        "failed turns": len(batch.errors),
        "stalled turns": len(batch.stalled),
    }
    peak_mib = after.get("VmHWM", 0) / 1024
    report.extra["worker memory"] = (
        f"RSS {before.get('VmRSS', 0) / 1024:.0f} MiB before the in-flight batch, "
        f"peak (VmHWM) {peak_mib:.0f} MiB"
    )
    _in_flight_inputs(report, args, before, after, beats_before, beats_after)
    report.capacity["inputs"]["in_flight_events"] = median(faults.events)
    report.capacity["inputs"]["in_flight_actions"] = median(faults.actions)
    lag = found["lag_ms"]["p50"]
    retried = faults.activity_timeouts + faults.activity_retries + faults.workflow_task_timeouts
    report.target(
        f"{args.in_flight} turns in flight{' beside a CPU hog' if args.cpu_hog else ''}: 0 failed "
        f"turns, lag p50 <= {IN_FLIGHT_LAG_TARGET_MS} ms, no stall",
        batch.completed == args.in_flight
        and not failed
        and lag is not None
        and lag <= IN_FLIGHT_LAG_TARGET_MS,
        f"{found['completed']}/{args.in_flight} completed, {found['errors']} errors, "
        f"{found['stalled']} stalled, lag p50 {_ms(lag)}, {faults.activity_timeouts} activity "
        f"timeouts, {faults.activity_retries} activity retries, {faults.workflow_task_timeouts} "
        f"workflow task timeouts ({retried} in all; {faults.sticky_timeouts} sticky-queue "
        f"timeouts), worker peak {peak_mib:.0f} MiB",
        before=FILED["in_flight"],
        bound="the slowest turns above, and where each one's history stood still longest",
    )


def _in_flight_inputs(
    report: Report,
    args: argparse.Namespace,
    before: dict[str, int],
    after: dict[str, int],
    beats_before: int | None,
    beats_after: int | None,
) -> None:
    """Memory per waiting turn and heartbeat RPCs per turn, for the capacity model."""
    turns = max(args.in_flight, 1)
    inputs = report.capacity["inputs"]
    inputs["waiting_turn_kib"] = round((after.get("VmHWM", 0) - before.get("VmRSS", 0)) / turns, 1)
    inputs["run_seconds"] = args.in_flight_run_ms / 1000
    if beats_before is not None and beats_after is not None:
        inputs["heartbeats_per_turn"] = round((beats_after - beats_before) / turns, 2)
        report.extra["heartbeat RPCs during the in-flight batch"] = (
            f"{beats_after - beats_before} ({inputs['heartbeats_per_turn']} per turn, heartbeat "
            f"timeout {(policy(args) or TurnPolicy()).heartbeat_timeout_seconds:g} s)"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
