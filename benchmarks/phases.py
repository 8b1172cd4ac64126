"""The benchmark's phases; each adds batches, extra figures and target verdicts to the report.

The targets are DESIGN.md's ("Targets"). Each phase also leaves the per-turn figures the capacity
model needs in `report.capacity["inputs"]` (`benchmarks.capacity`). A new phase is one more
`async def` here (or in a module of its own) that `command.bench_command` calls in its turn.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from threadloom.benchmarks import cpu, drivers, profiling
from threadloom.benchmarks.drivers import Driver, Turn, TurnDone
from threadloom.benchmarks.figures import history_counts, median
from threadloom.benchmarks.noop import NOOP_WORKFLOW
from threadloom.benchmarks.report import FILED, Report
from threadloom.benchmarks.scenarios import RunLength, Scenarios
from threadloom.benchmarks.stack import Stack, WorkerProcess, worker_process
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import TurnPolicy

HISTORY_SAMPLE = 20
WARM_UP_TURNS = 20
LAG_TARGET_MS = 50
"""Completion lag p50 of instant runs at concurrency 20 (and of fixed-length runs, which end in
lockstep the same way)."""
SPREAD_LAG_TARGET_MS = 20
"""Completion lag p50 of runs whose lengths are spread out (`LOW..HIGH`)."""
REQUESTS_TARGET = 2.0
"""Threads API requests per happy turn on threadloom's server."""
OVERHEAD_TARGET_MS = 25
THROUGHPUT_RATIO = 0.9
EVENTS_TARGET = 12


def policy(args: argparse.Namespace) -> TurnPolicy | None:
    """The policy of the benchmark's threadloom turns: `--heartbeat-seconds` and `--first-read-ms`
    where given, else the default."""
    first_read_ms = getattr(args, "first_read_ms", None)
    if args.heartbeat_seconds is None and first_read_ms is None:
        return None
    chosen = TurnPolicy()
    if args.heartbeat_seconds is not None:
        chosen = chosen.model_copy(update={"heartbeat_timeout_seconds": args.heartbeat_seconds})
    if first_read_ms is not None:
        poll = chosen.poll.model_copy(update={"first_read_wait_ms": first_read_ms})
        chosen = chosen.model_copy(update={"poll": poll})
    return TurnPolicy.model_validate(chosen.model_dump())


async def warm_up(args: argparse.Namespace, scenarios: Scenarios, loom: Threadloom) -> None:
    """A few unreported turns first: the worker's sandbox and connections start cold."""
    turns = min(args.turns, WARM_UP_TURNS)
    await scenarios.run(
        "warm-up", drivers.threadloom_driver(loom), RunLength(0, 0), concurrency=turns, turns=turns
    )


async def side_by_side(
    args: argparse.Namespace,
    report: Report,
    scenarios: Scenarios,
    loom: Threadloom,
    threads: ThreadsClient,
    stack: Stack,
) -> None:
    """Per run length: threadloom, the seed's loop, the openai SDK, and the no-op floor (Temporal
    alone); lag and requests per turn."""
    ways: list[tuple[str, Driver]] = [
        ("threadloom", drivers.threadloom_driver(loom, policy(args))),
        ("seed", drivers.seed_driver(threads)),
    ]
    close: Callable[[], Awaitable[None]] | None = None
    if not args.no_openai:
        try:
            sdk_driver, close = drivers.openai_driver(stack.threads_base_url)
            ways.append(("openai", sdk_driver))
        except ImportError:
            report.extra["openai"] = "not installed (pip install -e '.[test]'): SDK batches skipped"
    try:
        async with worker_process(stack, "noop") as noop:
            ways.append(("noop", drivers.noop_driver(stack.client, noop.task_queue)))
            await _side_by_side(args, report, scenarios, stack, ways)
    finally:
        if close is not None:
            await close()


async def _side_by_side(
    args: argparse.Namespace,
    report: Report,
    scenarios: Scenarios,
    stack: Stack,
    ways: list[tuple[str, Driver]],
) -> None:
    """Each way at each run length, and the lag verdicts (with the no-op floor beside them)."""
    for text in args.run_ms.split(","):
        length = RunLength.parse(text.strip())
        found = {}
        for name, driver in ways:
            batch = await scenarios.run(
                name, driver, length, concurrency=args.concurrency, turns=args.turns
            )
            found[name] = report.add(batch)
            if name == "threadloom" and length.high == 0:
                await _histories(report, stack, batch.done)
        ours, seed, floor = found["threadloom"], found["seed"], found["noop"]
        lag = ours["lag_ms"]["p50"]
        fewer = ours["requests_per_turn"] <= seed["requests_per_turn"]
        bound = SPREAD_LAG_TARGET_MS if length.low < length.high else LAG_TARGET_MS
        floor_lag = floor["lag_ms"]["p50"]
        report.target(
            f"completion lag p50 <= {bound} ms at no more requests/turn than the seed's loop, "
            f"run {length} ms",
            lag is not None and lag <= bound and fewer and not ours["stalled"],
            f"lag p50 {_ms(lag)} (seed {_ms(seed['lag_ms']['p50'])}; no-op floor "
            f"{_ms(floor['lag_ms']['p50'])}), requests/turn "
            f"{ours['requests_per_turn']:.1f} vs seed {seed['requests_per_turn']:.1f}",
            before=FILED[_lag_key(length)],
            bound=f"the no-op floor (Temporal alone, same runs): lag p50 {_ms(floor_lag)}"
            + (" -- above the bound itself" if floor_lag is not None and floor_lag > bound else ""),
        )
        if length.high == 0:
            _requests(report, ours)


def _lag_key(length: RunLength) -> str:
    if length.low < length.high:
        return "lag_spread"
    return "lag_instant" if length.high == 0 else "lag_fixed"


async def overhead(
    args: argparse.Namespace,
    report: Report,
    scenarios: Scenarios,
    loom: Threadloom,
    threads: ThreadsClient,
    stack: Stack,
) -> None:
    """Threadloom minus the direct loop, instant runs, one turn at a time; phases of the slow turns.
    The no-op workflow beside them is what Temporal alone takes for one turn."""
    instant = RunLength(0, 0)
    direct = await scenarios.run(
        "direct", drivers.direct_driver(threads), instant, concurrency=1, turns=args.turns
    )
    ours = await scenarios.run(
        "threadloom",
        drivers.threadloom_driver(loom, policy(args)),
        instant,
        concurrency=1,
        turns=args.turns,
    )
    async with worker_process(stack, "noop") as noop:
        floor = await scenarios.run(
            "noop",
            drivers.noop_driver(stack.client, noop.task_queue),
            instant,
            concurrency=1,
            turns=args.turns,
        )
    report.add(direct)
    report.add(ours)
    report.add(floor)
    ours_p50, direct_p50 = median(ours.wall_ms), median(direct.wall_ms)
    value = None if ours_p50 is None or direct_p50 is None else ours_p50 - direct_p50
    floor_p50 = median(floor.wall_ms)
    report.target(
        f"engine overhead p50 <= {OVERHEAD_TARGET_MS} ms (threadloom wall p50 - direct loop wall p50)",
        value is not None and value <= OVERHEAD_TARGET_MS,
        f"{_ms(value)} ({_ms(ours_p50)} - {_ms(direct_p50)})",
        before=FILED["overhead"],
        bound=f"Temporal's own round trip: the no-op workflow's wall p50 at concurrency 1 is "
        f"{_ms(floor_p50)}"
        + (
            " -- above the bound itself"
            if floor_p50 is not None and floor_p50 > OVERHEAD_TARGET_MS
            else ""
        ),
    )
    report.extra["threadloom wall ms at concurrency 1 (sorted)"] = [
        round(w) for w in sorted(ours.wall_ms)
    ]
    report.extra["threadloom phases ms, median (workflow clock)"] = _phase_medians(ours.done)


def _requests(report: Report, ours: dict[str, Any]) -> None:
    """The requests target of a happy turn (instant runs) on threadloom's server."""
    per_turn = ours["requests_per_turn"]
    report.capacity["inputs"]["requests"] = round(per_turn, 2)
    report.target(
        f"<= {REQUESTS_TARGET:g} Threads API requests per happy turn on threadloom's server",
        per_turn <= REQUESTS_TARGET and not ours["stalled"],
        f"{per_turn:.2f} requests/turn",
        before=FILED["requests"],
    )


def _phase_medians(done: list[TurnDone]) -> dict[str, float | None]:
    phases = [d.phases_ms for d in done if d.phases_ms]
    names = phases[0].keys() if phases else []
    return {name: _round(median([p[name] for p in phases])) for name in names}


async def throughput(
    args: argparse.Namespace,
    report: Report,
    scenarios: Scenarios,
    loom: Threadloom,
    stack: Stack,
    worker: WorkerProcess,
) -> None:
    """Turns/s of instant threadloom turns and of the no-op baseline at each concurrency level."""
    instant = RunLength(0, 0)
    levels = [int(level) for level in args.throughput.split(",") if level.strip()]
    ours: dict[int, float] = {}
    ours_cpu: dict[int, float] = {}
    for level in levels:
        turns = _turns_at(level, args)
        sampler = None
        if args.profile and level == max(levels):
            sampler = await profiling.start(worker.process.pid, args.profile, stack.home / "worker.raw")
            if sampler is None:
                report.extra["profile"] = "py-spy is not installed: pip install -e '.[bench]'"
        before = cpu.snapshot()
        batch = await scenarios.run(
            "threadloom",
            drivers.threadloom_driver(loom, policy(args)),
            instant,
            concurrency=level,
            turns=turns,
        )
        spent = cpu.per_turn_ms(before, cpu.snapshot(), batch.completed)
        report.extra[f"CPU ms per turn, threadloom at concurrency {level}"] = spent
        if level == max(levels):
            _cpu_inputs(report, spent)
        ours[level] = report.add(batch)["turns_per_s"] or 0.0
        ours_cpu[level] = sum(spent.values())
        if sampler is not None and await sampler.wait() == 0:
            found = profiling.summarize(stack.home / "worker.raw")
            report.extra[f"worker profile at concurrency {level} (py-spy, inclusive)"] = found
    async with worker_process(stack, "noop") as noop:

        async def noop_turn(turn: Turn) -> TurnDone:
            await stack.client.execute_workflow(
                NOOP_WORKFLOW, turn.text, id=f"noop-{uuid.uuid4().hex}", task_queue=noop.task_queue
            )
            return TurnDone("", drivers.now_ms(), turn.text)

        for level in levels:
            turns = _turns_at(level, args)
            before = cpu.snapshot()
            batch = await scenarios.run("noop", noop_turn, instant, concurrency=level, turns=turns)
            spent = cpu.per_turn_ms(before, cpu.snapshot(), batch.completed)
            report.extra[f"CPU ms per turn, no-op at concurrency {level}"] = spent
            baseline = report.add(batch)["turns_per_s"] or 0.0
            ratio = ours[level] / baseline if baseline else 0.0
            noop_cpu = sum(spent.values())
            report.target(
                f"throughput >= {THROUGHPUT_RATIO} x no-op baseline at concurrency {level}",
                ratio >= THROUGHPUT_RATIO,
                f"{ours[level]:.1f} vs {baseline:.1f} turns/s = {ratio:.2f} x",
                before=FILED["throughput"],
                bound=_cpu_bound(ours_cpu[level], noop_cpu),
            )


def _cpu_bound(ours_ms: float, noop_ms: float) -> str:
    """Where the cores are full, turns/s go as 1 / CPU per turn: the ratio that CPU allows."""
    allowed = f" allow at most {noop_ms / ours_ms:.2f} x" if ours_ms else ""
    return (
        f"CPU: a turn costs {ours_ms:.1f} ms of CPU across all processes, a no-op {noop_ms:.1f} ms; "
        f"on full cores these{allowed}"
    )


def _cpu_inputs(report: Report, spent: dict[str, float]) -> None:
    inputs = report.capacity["inputs"]
    inputs["worker_cpu_ms"] = spent.get("worker (turn)")
    inputs["temporal_cpu_ms"] = spent.get("temporal dev server")
    inputs["threads_server_cpu_ms"] = spent.get("threads server")


def _turns_at(level: int, args: argparse.Namespace) -> int:
    """Turns of a throughput batch: a tenth at concurrency 1, else at least two per slot."""
    planned = int(args.throughput_turns)
    return max(10, planned // 10) if level == 1 else max(planned, 2 * level)


async def _histories(report: Report, stack: Stack, done: list[TurnDone]) -> None:
    ids = [d.workflow_id for d in done if d.workflow_id][:HISTORY_SAMPLE]
    counts = await history_counts(stack.client, ids)
    if not counts:
        return
    events = [c.events for c in counts]
    actions = [c.actions for c in counts]
    report.extra["history per happy turn"] = {
        "turns sampled": len(counts),
        "events (min/median/max)": [min(events), median(events), max(events)],
        "actions (min/median/max)": [min(actions), median(actions), max(actions)],
        "event types (one turn)": counts[0].kinds,
    }
    worst = max(events)
    report.capacity["inputs"]["history_events"] = median(events)
    report.capacity["inputs"]["actions"] = median(actions)
    report.target(
        f"<= {EVENTS_TARGET} history events per happy turn",
        worst <= EVENTS_TARGET,
        f"max {worst}",
        before=FILED["events"],
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
