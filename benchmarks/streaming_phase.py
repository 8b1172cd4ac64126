"""The streaming phase of `threadloom bench`: streamed turns, three ways, on the same server.

- `openai runs.stream`: the official SDK streams a run from its creation (not durable);
- `threadloom`: `Threadloom.stream_turn`, a durable `TurnWorkflow` read beside it through the
  threads server's re-attachable run event stream (the chosen mechanism);
- `workflow streams (N ms)`: the candidate not chosen, Temporal's Workflow Streams
  (`benchmarks.stream_probe`), its activity flushing batches every N ms.

Each turn's reply is `--stream-deltas` deltas, `--stream-delay-ms` apart (the echo responder's
pause). Time to first token runs from the call that starts the turn to the first text delta in
hand; a delta's lag from the moment the server logged it (`threadloom_at` of the run's event
stream, read back after the turn) to its arrival. History events are the turn workflow's (or the
probe's); CPU is all the stack's processes', per turn. Turns run one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.contrib.workflow_streams import WorkflowStreamClient
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from threadloom.benchmarks import cpu
from threadloom.benchmarks.figures import median, percentile
from threadloom.benchmarks.report import Report
from threadloom.benchmarks.stack import Stack
from threadloom.benchmarks.stream_probe import (
    ProbeActivities,
    ProbeInput,
    StreamProbeWorkflow,
    subscribe,
)
from threadloom.starter.api import Threadloom
from threadloom.starter.settings import Settings
from threadloom.starter.stream_events import TextDelta, TurnFinished
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import RunOverrides, TurnRequest, UserMessage

TTFT_SLACK_MS = 100
"""threadloom's time to first token p50 may exceed the SDK's by this much."""
EVENTS_TARGET = 30
"""History events of a streamed turn with a 200-delta reply."""
WORDS_PER_DELTA = 4
"""The threads server's `stream_delta_words` (its default)."""
PROBE_BATCHES_MS = (100, 1000)
TURN_SECONDS = 120
"""A streamed turn that takes longer fails the benchmark instead of hanging it."""


@dataclass
class Streamed:
    """One streamed turn as the caller saw it."""

    started: float
    arrivals: list[float]
    thread_id: str
    run_id: str
    history_events: int | None = None


@dataclass
class Way:
    """The turns of one mechanism."""

    name: str
    turns: list[Streamed] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)


StreamOne = Callable[[str, str], Awaitable[Streamed]]
"""Stream one turn of `text` on thread... (thread id, text) -> what arrived."""


def reply_text(deltas: int) -> str:
    """A user message whose echo (`Echo: …`) streams as `deltas` deltas."""
    return " ".join(f"w{i}" for i in range(deltas * WORDS_PER_DELTA - 1))


async def streaming_phase(
    args: argparse.Namespace, report: Report, stack: Stack, assistant_id: str, task_queue: str
) -> None:
    """Run `--stream-turns` streamed turns each way and record the figures and verdicts."""
    if not args.stream_turns:
        return
    metadata = {"echo_chunk_delay_ms": str(args.stream_delay_ms)}
    text = reply_text(args.stream_deltas)
    settings = Settings(threads_base_url=stack.threads_base_url, task_queue=task_queue)
    loom = Threadloom(stack.client, task_queue=task_queue, settings=settings)
    ways: list[tuple[str, StreamOne]] = []
    close: Callable[[], Awaitable[None]] | None = None
    try:
        sdk_one, close = _sdk(stack, assistant_id, metadata)
        ways.append(("openai runs.stream", sdk_one))
    except ImportError:
        report.extra["streaming_openai"] = "not installed (pip install -e '.[test]'): skipped"
    ways.append(("threadloom", _threadloom(loom, assistant_id, metadata)))
    results: list[Way] = []
    async with ThreadsClient(stack.threads_base_url, max_retries=0, timeout=120) as threads:
        probe_queue = f"bench-probe-{uuid.uuid4().hex[:8]}"
        worker = Worker(
            stack.client,
            task_queue=probe_queue,
            workflows=[StreamProbeWorkflow],
            activities=[ProbeActivities(threads).run],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        async with worker:
            for batch_ms in PROBE_BATCHES_MS:
                probe = _probe(stack, assistant_id, metadata, probe_queue, batch_ms, args)
                ways.append((f"workflow streams ({batch_ms} ms)", probe))
            try:
                for name, one in ways:
                    results.append(await _batch(name, one, threads, stack, text, args.stream_turns))
            finally:
                if close is not None:
                    await close()
    _record(report, results, args)


async def _batch(
    name: str, one: StreamOne, threads: ThreadsClient, stack: Stack, text: str, turns: int
) -> Way:
    way = Way(name)
    await asyncio.wait_for(one((await threads.threads.create()).id, "warm up"), TURN_SECONDS)
    before = cpu.snapshot()
    for _ in range(turns):
        thread_id = (await threads.threads.create()).id
        way.turns.append(await asyncio.wait_for(one(thread_id, text), TURN_SECONDS))
    way.cpu_ms = cpu.per_turn_ms(before, cpu.snapshot(), turns)
    async with httpx.AsyncClient(base_url=stack.threads_base_url, timeout=60) as http:
        for turn in way.turns:
            logged = await _logged_deltas(http, turn.thread_id, turn.run_id)
            way.lags_ms += [
                (arrived - at) * 1000 for arrived, at in zip(turn.arrivals, logged, strict=False)
            ]
    return way


async def _logged_deltas(http: httpx.AsyncClient, thread_id: str, run_id: str) -> list[float]:
    """When the server logged each text delta of the run (Unix s), in order."""
    answer = await http.get(
        f"threads/{thread_id}/runs/{run_id}/events", params={"threadloom_at": "true"}
    )
    found, at = [], 0.0
    for line in answer.text.splitlines():
        if line.startswith(": at="):
            at = float(line.removeprefix(": at="))
        elif line == "event: thread.message.delta":
            found.append(at)
    return found


def _sdk(
    stack: Stack, assistant_id: str, metadata: dict[str, str]
) -> tuple[StreamOne, Callable[[], Awaitable[None]]]:
    import openai  # a test extra, imported only when this way is measured

    sdk = openai.AsyncOpenAI(base_url=stack.threads_base_url, api_key="bench")

    async def one(thread_id: str, text: str) -> Streamed:
        started, arrivals, run_id = time.time(), [], ""
        async with sdk.beta.threads.runs.stream(
            thread_id=thread_id,
            assistant_id=assistant_id,
            additional_messages=[{"role": "user", "content": text}],
            metadata=metadata,
        ) as stream:
            async for event in stream:
                if event.event == "thread.message.delta":
                    arrivals.append(time.time())
                elif event.event == "thread.run.created":
                    run_id = event.data.id
        return Streamed(started, arrivals, thread_id, run_id)

    return one, sdk.close


def _threadloom(loom: Threadloom, assistant_id: str, metadata: dict[str, str]) -> StreamOne:
    async def one(thread_id: str, text: str) -> Streamed:
        request = TurnRequest(
            thread_id=thread_id,
            assistant_id=assistant_id,
            message=UserMessage(text=text),
            run=RunOverrides(metadata=metadata),
            turn_key=uuid.uuid4().hex,
        )
        started, arrivals, run_id = time.time(), [], ""
        async for event in loom.stream_turn(request):
            if isinstance(event, TextDelta):
                arrivals.append(time.time())
            elif isinstance(event, TurnFinished):
                run_id = event.result.run_id
        handle = loom.client.get_workflow_handle(request.workflow_id)
        events = len([e async for e in handle.fetch_history_events()])
        return Streamed(started, arrivals, thread_id, run_id, events)

    return one


def _probe(
    stack: Stack,
    assistant_id: str,
    metadata: dict[str, str],
    task_queue: str,
    batch_ms: int,
    args: argparse.Namespace,
) -> StreamOne:
    async def one(thread_id: str, text: str) -> Streamed:
        probe = ProbeInput(thread_id, assistant_id, text, metadata, batch_ms)
        started = time.time()
        handle = await stack.client.start_workflow(
            StreamProbeWorkflow.run, probe, id=f"probe-{uuid.uuid4().hex}", task_queue=task_queue
        )
        expected = args.stream_deltas if text != "warm up" else 1
        got = await subscribe(WorkflowStreamClient.create(stack.client, handle.id), expected)
        out = await handle.result()

        events = len([e async for e in handle.fetch_history_events()])
        return Streamed(started, [at for at, _ in got], thread_id, out.run_id, events)

    return one


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _record(report: Report, results: list[Way], args: argparse.Namespace) -> None:
    figures: dict[str, Any] = {}
    for way in results:
        ttft = [(t.arrivals[0] - t.started) * 1000 for t in way.turns if t.arrivals]
        events = [t.history_events for t in way.turns if t.history_events is not None]
        figures[way.name] = {
            "turns": len(way.turns),
            "deltas_per_turn": median([len(t.arrivals) for t in way.turns]),
            "ttft_ms_p50": _ms(median(ttft)),
            "ttft_ms_p95": _ms(percentile(ttft, 95)),
            "delta_lag_ms_p50": _ms(median(way.lags_ms)),
            "delta_lag_ms_p95": _ms(percentile(way.lags_ms, 95)),
            "history_events_per_turn": median(events) if events else None,
            "cpu_ms_per_turn": round(sum(way.cpu_ms.values()), 1),
            "cpu_ms_per_turn_by_process": way.cpu_ms,
        }
    report.extra["streaming"] = {
        "deltas": args.stream_deltas,
        "delay_ms": args.stream_delay_ms,
        "ways": figures,
    }
    ours, sdk = figures.get("threadloom"), figures.get("openai runs.stream")
    if ours is None:
        return
    if sdk is None or ours["ttft_ms_p50"] is None or sdk["ttft_ms_p50"] is None:
        report.target("streaming: TTFT p50 within 100 ms of the SDK's runs.stream", None, "no SDK")
    else:
        gap = ours["ttft_ms_p50"] - sdk["ttft_ms_p50"]
        report.target(
            f"streaming: TTFT p50 within {TTFT_SLACK_MS} ms of the SDK's runs.stream",
            gap <= TTFT_SLACK_MS,
            f"{ours['ttft_ms_p50']} ms vs {sdk['ttft_ms_p50']} ms (+{gap:.1f} ms)",
        )
    events = ours["history_events_per_turn"]
    report.target(
        f"streaming: ≤ {EVENTS_TARGET} history events for a {args.stream_deltas}-delta reply",
        None if events is None else events <= EVENTS_TARGET,
        f"{events} events",
    )
