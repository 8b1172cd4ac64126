"""Crash tolerance (DESIGN.md, "Targets"): SIGKILL the worker at random moments of a batch of turns.

`--crash N` turns, each on its own fresh thread, start at an even pace over a window of
`(K + 1) x max(--crash-run-ms, 500)` ms (so at any moment turns are adding their message, creating or
waiting for their run or fetching the reply); each run lasts `--crash-run-ms` on the server. The batch's
expected length without kills (window + one run) is cut into K equal slots and the worker is killed
with SIGKILL at a uniformly random moment of each (seeded: `--seed`), then a new worker process is
started on the same task queue; the next kill waits until that one is ready. Just before each kill the
turns in flight are asked their phase (the `progress` query, at most 0.5 s: it delays the kill). Once
every turn has returned (or the overall timeout passed), each thread is read back from the threads
server: the reply must be the echo reply, with exactly one user message, one assistant message and one
`completed` run (the turn's own); any other run must have ended `cancelled`, `expired`, `failed` or
`incomplete` (a legitimate re-run).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from threadloom.benchmarks.drivers import TurnDone, fault_metadata, now_ms
from threadloom.benchmarks.figures import percentile
from threadloom.benchmarks.overload import SLOWEST_SHOWN, events_since
from threadloom.benchmarks.phases import policy
from threadloom.benchmarks.report import FILED, Report
from threadloom.benchmarks.scenarios import Batch, Scenarios
from threadloom.benchmarks.stack import Stack, WorkerProcess, start_worker, stop_process
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import (
    RunOverrides,
    TurnPolicy,
    TurnRequest,
    TurnResult,
    UserMessage,
)

WARM_UP_TURNS = 3
"""Unreported turns on the fresh worker first: its sandbox and connections start cold."""
TIMEOUT_BASE_S = 180.0
TIMEOUT_PER_KILL_S = 30.0
"""The overall timeout: every kill costs a dead worker's heartbeat and workflow task timeouts."""
LEFTOVER_RUN_STATUSES = {"cancelled", "expired", "failed", "incomplete"}
"""Terminal states a turn's superseded run (a legitimate re-run) may end in."""
LOG_NAME = "worker-crash.log"
STANDBY_LOG_NAME = "worker-crash-standby.log"
MIN_SLOT_MS = 500
"""The start window's share per kill is at least this (a new worker is ready 1-2 s after a kill)."""
RECOVERY_P95_TARGET_MS = 5_000
"""Issue 14's bound: a turn in flight at a SIGKILL returns within this of the kill (p95)."""
PHASE_QUERY_S = 0.5
"""How long the phase query before a kill may take (it delays the kill)."""


@dataclass
class TurnRecord:
    """One turn of the batch as the caller saw it."""

    thread_id: str
    text: str
    request: TurnRequest
    started_s: float | None = None
    finished_s: float | None = None
    result: TurnResult | None = None
    error: str | None = None


@dataclass
class Kill:
    """One SIGKILL of the worker."""

    planned_ms: float
    at_ms: float = 0.0
    """Since the batch began; later than planned when the previous worker was still starting."""
    restart_ms: float | None = None
    """Kill → the new worker process polling."""
    hit: list[TurnRecord] = field(default_factory=list)
    """The turns in flight at the kill."""
    phases: Counter[str] = field(default_factory=Counter)
    """Their phases just before it (the `progress` query; `no answer` within `PHASE_QUERY_S`; `done`:
    the workflow had finished, the caller did not have the result yet)."""
    recovery_ms: float | None = None
    """Kill → the last of the turns it hit returned (None: it hit none, or one never returned)."""
    identity: str = ""
    """The killed worker's Temporal identity (the SDK's `pid@host`)."""
    wall_s: float = 0.0
    """The kill's `time.time()`, to compare with history event times."""


@dataclass
class Verdict:
    """What the threads held after the batch."""

    ok_turns: int = 0
    duplicate_user_messages: int = 0
    duplicate_assistant_messages: int = 0
    duplicate_completed_runs: int = 0
    leftover_runs: Counter[str] = field(default_factory=Counter)
    unfinished_runs: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def held_by_the_killed_worker(
    kill: Kill, task_starts: dict[int, list[tuple[str, float]]]
) -> list[TurnRecord]:
    """The turns of `kill.hit` whose workflow or activity tasks (`task_starts` by `id()` of the
    record: the worker identity and wall time of each start) the killed worker had taken by then."""
    return [
        record
        for record in kill.hit
        if any(who == kill.identity and at <= kill.wall_s for who, at in task_starts[id(record)])
    ]


def kill_plan(rng: random.Random, kills: int, expected_ms: float) -> list[float]:
    """One uniformly random moment in each of `kills` equal slots of `expected_ms`."""
    slot = expected_ms / kills if kills else 0.0
    return [slot * (i + rng.random()) for i in range(kills)]


class CrashBatch:
    """Runs the turns, kills and restarts the worker, and keeps what happened."""

    def __init__(self, stack: Stack, worker: WorkerProcess, loom: Threadloom, began: float) -> None:
        self.stack = stack
        self.worker = worker
        self.loom = loom
        self.began = began
        self.kills: list[Kill] = []
        self.restarts = 0
        self.records: list[TurnRecord] = []

    def since_ms(self, moment: float) -> float:
        return (moment - self.began) * 1000

    def in_flight(self) -> list[TurnRecord]:
        """Turns started and not yet returned."""
        return [r for r in self.records if r.started_s is not None and r.finished_s is None]

    async def turn(self, record: TurnRecord, offset_s: float) -> None:
        """Start the turn at its moment and wait for its result; a failure is recorded."""
        await asyncio.sleep(max(0.0, self.began + offset_s - time.monotonic()))
        record.started_s = time.monotonic()
        try:
            record.result = await self.loom.run_turn(record.request)
        except Exception as err:  # a failed turn is a result of the benchmark
            record.error = f"{type(err).__name__}: {err}"
        record.finished_s = time.monotonic()

    async def kill_loop(self, plan: list[float]) -> None:
        """SIGKILL the worker at each planned moment and start a new one on the same task queue."""
        for planned in plan:
            kill = Kill(planned_ms=planned)
            await asyncio.sleep(max(0.0, self.began + planned / 1000 - time.monotonic()))
            asked = await self._phases()
            killed_at = time.monotonic()
            kill.at_ms, kill.hit = self.since_ms(killed_at), self.in_flight()
            kill.phases = Counter(asked.get(id(r), "not asked (started since)") for r in kill.hit)
            kill.identity = f"{self.worker.process.pid}@{socket.gethostname()}"
            kill.wall_s = time.time()
            self.worker.process.kill()
            await self.worker.process.wait()
            self.kills.append(kill)
            self.worker = await start_worker(self.stack, "turn", self.worker.task_queue, LOG_NAME)
            self.restarts += 1
            kill.restart_ms = (time.monotonic() - killed_at) * 1000

    async def _phases(self) -> dict[int, str]:
        """The phase of each turn in flight now, by `id()` of its record."""

        async def phase(record: TurnRecord) -> tuple[int, str]:
            handle = self.loom.get_handle(record.request.workflow_id)
            try:
                return id(record), (await asyncio.wait_for(handle.progress(), PHASE_QUERY_S)).phase
            except Exception:  # its first workflow task not taken yet, or on a dead worker's queue
                return id(record), "no answer"

        return dict(await asyncio.gather(*(phase(r) for r in self.in_flight())))

    async def keep_the_killed_workers_turns(self) -> None:
        """With a standby worker, a turn in flight at a kill was hit only if the killed worker had
        taken one of its tasks before the kill (it held the turn's task or its cached state, so the
        turn waits out a timeout); the others ran on the standby all along."""
        histories: dict[int, list[tuple[str, float]]] = {}

        async def starts(record: TurnRecord) -> None:
            handle = self.loom.client.get_workflow_handle(record.request.workflow_id)
            found = []
            async for event in handle.fetch_history_events():
                for field_name in (
                    "workflow_task_started_event_attributes",
                    "activity_task_started_event_attributes",
                ):
                    if event.HasField(field_name):
                        identity = getattr(event, field_name).identity
                        found.append((identity, event.event_time.ToDatetime(UTC).timestamp()))
            histories[id(record)] = found

        hit = {id(r): r for kill in self.kills for r in kill.hit}
        await asyncio.gather(*(starts(r) for r in hit.values()))
        for kill in self.kills:
            kill.hit = held_by_the_killed_worker(kill, histories)

    def returns_ms(self) -> list[float]:
        """For each turn in flight at a kill (once per kill): kill -> the turn returned; a turn
        that never returned counts as the whole wait since its kill. A turn hit again before it
        recovered counts the later kills' time in the earlier kill's figure too."""
        return [self._returned_at_ms(record) - kill.at_ms for kill in self.kills for record in kill.hit]

    def returns_after_last_kill_ms(self) -> list[float]:
        """For each turn hit by a kill (once): the last kill that hit it -> the turn returned. This is
        the recovery the target bounds: once the worker stops dying, how soon the turn is back."""
        last: dict[int, tuple[TurnRecord, float]] = {}
        for kill in self.kills:  # in order, so a later kill replaces an earlier one
            for record in kill.hit:
                last[id(record)] = (record, kill.at_ms)
        return [self._returned_at_ms(record) - at_ms for record, at_ms in last.values()]

    def _returned_at_ms(self, record: TurnRecord) -> float:
        done = record.finished_s if record.result is not None and record.finished_s else None
        return self.since_ms(done if done is not None else time.monotonic())

    async def slowest_recoveries(self, count: int = SLOWEST_SHOWN) -> list[str]:
        """The `count` turns slowest back after the last kill that hit them, each with the events of
        its history since that kill (seconds after it): what the recovery time is made of."""
        last: dict[int, tuple[TurnRecord, Kill]] = {}
        for kill in self.kills:
            for record in kill.hit:
                last[id(record)] = (record, kill)
        ranked = sorted(
            last.values(), key=lambda hit: self._returned_at_ms(hit[0]) - hit[1].at_ms, reverse=True
        )
        lines = []
        for record, kill in ranked[:count]:
            handle = self.loom.client.get_workflow_handle(record.request.workflow_id)
            events = list((await handle.fetch_history()).events)
            back_s = (self._returned_at_ms(record) - kill.at_ms) / 1000
            lines.append(
                f"{record.request.workflow_id[:24]}…: back {back_s:.1f} s after the kill: "
                + events_since(events, kill.wall_s)
            )
        return lines

    def recoveries(self) -> None:
        """Each kill's recovery: until every turn in flight at the kill has returned its reply."""
        for kill in self.kills:
            ends = [r.finished_s for r in kill.hit if r.result is not None and r.finished_s]
            if kill.hit and len(ends) == len(kill.hit):
                kill.recovery_ms = self.since_ms(max(ends)) - kill.at_ms


async def crash(
    args: argparse.Namespace,
    report: Report,
    scenarios: Scenarios,
    threads: ThreadsClient,
    stack: Stack,
    assistant_id: str,
) -> bool:
    """The crash phase; True when every turn completed once, with no duplicate on its thread."""
    turns, kills, run_ms = int(args.crash), int(args.crash_kills), int(args.crash_run_ms)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    window_ms = (kills + 1) * max(run_ms, MIN_SLOT_MS)
    expected_ms = window_ms + run_ms
    plan = kill_plan(rng, kills, expected_ms)
    timeout_s = TIMEOUT_BASE_S + TIMEOUT_PER_KILL_S * kills
    print(
        f"crash phase: seed {seed}, {turns} turns over {window_ms} ms, SIGKILLs planned at "
        f"{', '.join(f'{p:.0f}' for p in plan) or '-'} ms",
        file=sys.stderr,
        flush=True,
    )
    task_queue = f"bench-crash-{uuid.uuid4().hex[:8]}"
    worker = await start_worker(stack, "turn", task_queue, LOG_NAME)
    standby = (
        await start_worker(stack, "turn", task_queue, STANDBY_LOG_NAME) if args.crash_standby else None
    )
    loom = Threadloom(stack.client, task_queue=task_queue)
    batch = CrashBatch(stack, worker, loom, time.monotonic())
    try:
        warm = [
            _record(tid, assistant_id, f"crash warm-up {i}", 0, policy(args))
            for i, tid in enumerate(await scenarios.new_threads(min(turns, WARM_UP_TURNS)))
        ]
        await asyncio.gather(*(loom.run_turn(r.request) for r in warm))
        batch.records = [
            _record(tid, assistant_id, f"crash turn {i}", run_ms, policy(args))
            for i, tid in enumerate(await scenarios.new_threads(turns))
        ]
        await scenarios.reset_stats()
        batch.began = time.monotonic()
        pace_s = window_ms / 1000 / turns
        tasks = [asyncio.create_task(batch.turn(r, i * pace_s)) for i, r in enumerate(batch.records)]
        killer = asyncio.create_task(batch.kill_loop(plan))
        await _wait(tasks, killer, batch.began + timeout_s)
        ends = [r.finished_s for r in batch.records if r.finished_s is not None]
        elapsed_s = max(ends, default=time.monotonic()) - batch.began
        requests = await scenarios.requests()
    finally:
        await stop_process(batch.worker.process)
        if standby is not None:
            await stop_process(standby.process)
    if standby is not None:
        await batch.keep_the_killed_workers_turns()
    for record in batch.records:
        if record.result is None and record.error is None:
            record.error = f"not done {timeout_s:.0f} s after the batch began"
    batch.recoveries()
    verdict = await verify(threads, batch.records)
    found = _batch(batch.records, run_ms, elapsed_s, requests)
    found.lag_ms = await scenarios.lags(found.done)
    summary = report.add(found)
    completed = summary["completed"]
    duplicates = (
        verdict.duplicate_user_messages
        + verdict.duplicate_assistant_messages
        + verdict.duplicate_completed_runs
    )
    recoveries = [k.recovery_ms for k in batch.kills if k.recovery_ms is not None]
    returns = batch.returns_after_last_kill_ms()
    every_return = batch.returns_ms()
    walls = found.wall_ms
    report.extra["crash tolerance"] = {
        "seed": seed,
        "turns completed": f"{completed}/{turns}",
        "errors": summary["errors"],
        "first error": summary["first_error"],
        "turns verified on their thread": f"{verdict.ok_turns}/{turns}",
        "duplicate user messages": verdict.duplicate_user_messages,
        "duplicate assistant messages": verdict.duplicate_assistant_messages,
        "duplicate completed runs": verdict.duplicate_completed_runs,
        "superseded runs by status": dict(verdict.leftover_runs),
        "unfinished runs by status": dict(verdict.unfinished_runs),
        "standby worker": bool(args.crash_standby),
        "kills done": len(batch.kills),
        "worker restarts": batch.restarts,
        "kills (ms since batch start; in-flight turns; restart ms; recovery ms)": [
            [round(k.at_ms), len(k.hit), _round(k.restart_ms), _round(k.recovery_ms)]
            for k in batch.kills
        ],
        "phases of the in-flight turns just before each kill": [dict(k.phases) for k in batch.kills],
        "turns (start ms since batch start, wall ms)": [
            [round(batch.since_ms(r.started_s)), round((r.finished_s - r.started_s) * 1000)]
            for r in batch.records
            if r.started_s is not None and r.finished_s is not None
        ],
        "wall ms p50/p95/max": [_round(percentile(walls, q)) for q in (50, 95, 100)],
        "longest recovery ms (kill -> every turn in flight at it returned)": _round(
            max(recoveries, default=None)
        ),
        "turn returns ms after the last kill that hit it p50/p95/max": [
            _round(percentile(returns, q)) for q in (50, 95, 100)
        ],
        "turn returns ms after each kill that hit it p50/p95/max": [
            _round(percentile(every_return, q)) for q in (50, 95, 100)
        ],
        "problems": verdict.problems[:10],
    }
    report.extra[
        "slowest recoveries (history events, s after the last kill that hit the turn)"
    ] = await batch.slowest_recoveries()
    ok = completed == turns and verdict.ok_turns == turns and not verdict.problems
    report.target(
        f"crash tolerance: {turns} turns, {kills} SIGKILLs -> all completed, 0 duplicate messages/runs",
        ok and len(batch.kills) == kills,
        f"{completed}/{turns} completed, {summary['errors']} errors, {duplicates} duplicates, "
        f"{len(batch.kills)} kills, {batch.restarts} restarts, "
        f"longest recovery {_ms(max(recoveries, default=None))}",
    )
    p95 = percentile(returns, 95) if returns else None
    report.target(
        f"crash recovery: the turns in flight at a SIGKILL return within p95 <= "
        f"{RECOVERY_P95_TARGET_MS} ms of the last kill that hit them"
        + (" (a standby worker beside the killed one)" if args.crash_standby else ""),
        ok and p95 is not None and p95 <= RECOVERY_P95_TARGET_MS,
        f"p95 {_ms(p95)} over {len(returns)} turns hit by {len(batch.kills)} kills "
        f"(p95 {_ms(percentile(every_return, 95) if every_return else None)} counted from each kill "
        "that hit them, a turn hit again before it recovered once per kill; "
        f"worker restarts took {_ms(max((k.restart_ms or 0 for k in batch.kills), default=None))} "
        "at most; heartbeat timeout "
        f"{batch.records[0].request.policy.heartbeat_timeout_seconds if batch.records else '?'} s, "
        f"workflow task timeout {loom.task_timeout.total_seconds():g} s)",
        before=FILED["crash_recovery"],
        bound=_recovery_bound(batch, loom),
    )
    return ok


def _recovery_bound(batch: CrashBatch, loom: Threadloom) -> str:
    """What a hit turn waits for: the timeouts by which Temporal learns that its worker is dead."""
    heartbeat = batch.records[0].request.policy.heartbeat_timeout_seconds if batch.records else 0
    task = loom.task_timeout.total_seconds()
    return (
        f"a wait on the dead worker is retried {heartbeat:g} s + ~1 s (the server's detection) after "
        f"its last heartbeat RPC, which is up to 0.8 x {heartbeat:g} s old; a workflow task it held "
        f"times out after {task:g} s; then the turn's history is replayed elsewhere (the slowest "
        "recoveries above, event by event)"
    )


def _record(
    thread_id: str, assistant_id: str, text: str, run_ms: int, policy: TurnPolicy | None
) -> TurnRecord:
    request = TurnRequest(
        turn_key=uuid.uuid4().hex,
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        run=RunOverrides(metadata=fault_metadata(run_ms)),
        policy=policy or TurnPolicy(),
    )
    return TurnRecord(thread_id, text, request)


async def _wait(tasks: list[asyncio.Task[None]], killer: asyncio.Task[None], deadline: float) -> None:
    """Until every turn returned or the deadline; a worker that does not restart ends it early."""
    pending: set[asyncio.Task[None]] = {*tasks, killer}
    try:
        while any(not t.done() for t in tasks):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            _, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if killer.done() and killer.exception() is not None:
                raise killer.exception()  # type: ignore[misc]
        if not killer.done():
            # Every turn returned before the last planned kill: it still happens, on an idle worker.
            await asyncio.wait_for(killer, max(deadline - time.monotonic(), 1.0))
    finally:
        for task in [*tasks, killer]:
            task.cancel()
        await asyncio.gather(*tasks, killer, return_exceptions=True)


def _batch(records: list[TurnRecord], run_ms: int, elapsed_s: float, requests: int) -> Batch:
    found = Batch("crash", str(run_ms), len(records), len(records), elapsed_s, requests=requests)
    for r in records:
        if r.result is None or r.started_s is None or r.finished_s is None:
            found.errors.append(r.error or "no result")
            continue
        found.wall_ms.append((r.finished_s - r.started_s) * 1000)
        done_at = now_ms() - (time.monotonic() - r.finished_s) * 1000
        found.done.append(TurnDone(r.result.run_id, done_at, r.result.reply, r.request.workflow_id))
    return found


async def verify(threads: ThreadsClient, records: list[TurnRecord]) -> Verdict:
    """Read every turn's thread back: one user message, one reply, one completed run (its own)."""
    verdict = Verdict()
    gate = asyncio.Semaphore(20)

    async def one(record: TurnRecord) -> None:
        async with gate:
            messages = [m async for m in threads.threads.messages.list(record.thread_id, order="asc")]
            runs = [r async for r in threads.threads.runs.list(record.thread_id, order="asc")]
        _judge(verdict, record, messages, runs)

    await asyncio.gather(*(one(r) for r in records))
    return verdict


def _judge(verdict: Verdict, record: TurnRecord, messages: list[Any], runs: list[Any]) -> None:
    users = [m for m in messages if m.role == "user"]
    replies = [m for m in messages if m.role == "assistant"]
    completed = [r for r in runs if r.status == "completed"]
    verdict.duplicate_user_messages += max(0, len(users) - 1)
    verdict.duplicate_assistant_messages += max(0, len(replies) - 1)
    verdict.duplicate_completed_runs += max(0, len(completed) - 1)
    for run in runs:
        if run.status == "completed":
            continue
        bucket = (
            verdict.leftover_runs if run.status in LEFTOVER_RUN_STATUSES else verdict.unfinished_runs
        )
        bucket[run.status] += 1
    found: list[str] = []
    if len(users) != 1 or len(replies) != 1 or len(completed) != 1:
        found.append(
            f"{len(users)} user messages, {len(replies)} assistant messages, "
            f"{len(completed)} completed runs"
        )
    unfinished = [
        r.status for r in runs if r.status != "completed" and r.status not in LEFTOVER_RUN_STATUSES
    ]
    if unfinished:
        found.append(f"runs not finished: {unfinished}")
    result = record.result
    if result is not None:
        expected = f"Echo: {record.text}"
        if result.reply != expected:
            found.append(f"reply {result.reply!r}, expected {expected!r}")
        if completed and result.run_id != completed[0].id:
            found.append(f"result run {result.run_id}, completed run {completed[0].id}")
        if users and result.user_message_id != users[0].id:
            found.append(f"result message {result.user_message_id}, user message {users[0].id}")
    if found:
        verdict.problems.append(f"{record.thread_id}: {'; '.join(found)}")
    elif result is not None:
        verdict.ok_turns += 1


def _round(value: float | None) -> float | None:
    return None if value is None else round(value)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"
