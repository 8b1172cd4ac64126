"""The other streaming mechanism, measured beside the chosen one: Temporal's Workflow Streams.

`StreamProbeWorkflow` hosts a `WorkflowStream` and runs one activity that creates the run, reads
its events (the threads server's run event stream), publishes each text delta to the workflow's
stream (batched every `batch_ms`, the first one flushed at once) and returns the reply; the
backend subscribes through Temporal only. That is how a turn would stream with
`temporalio.contrib.workflow_streams` (the Threads API key stays in the worker). Every publish
batch is a signal and every subscriber poll an update, so its history grows with the batches:
`threadloom bench` counts them. Not used by threadloom's turns (README, "Streaming turns").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.contrib.workflow_streams import WorkflowStream, WorkflowStreamClient

from threadloom.threads_client import ThreadsClient
from threadloom.threads_client._streaming import iter_stream_events

PROBE_WORKFLOW = "StreamProbe"
TOPIC = "deltas"


@dataclass
class ProbeInput:
    """One streamed run: where, what, and how often the activity flushes its batch."""

    thread_id: str
    assistant_id: str
    text: str
    metadata: dict[str, str]
    batch_ms: int


@dataclass
class ProbeOutput:
    """The run and the text it streamed."""

    run_id: str
    reply: str


@dataclass
class ProbeDelta:
    """One published text delta (`index` from 0)."""

    index: int
    text: str


class ProbeActivities:
    """The publishing side: reads the run's stream from the threads server."""

    def __init__(self, threads: ThreadsClient) -> None:
        self._threads = threads

    @activity.defn(name="stream_probe_run")
    async def run(self, probe: ProbeInput) -> ProbeOutput:
        """Create the run, read its events and publish its text deltas to the workflow.

        The publisher flushes on a timer of its own: the stream client's `async with` (its
        background flusher) hung at exit in about half the turns here, not diagnosed.
        """
        stream = WorkflowStreamClient.from_within_activity()
        deltas = stream.topic(TOPIC, type=ProbeDelta)
        texts: list[str] = []
        flusher = asyncio.create_task(_flush_every(stream, probe.batch_ms / 1000))
        try:
            run = await self._threads.threads.runs.create(
                probe.thread_id,
                assistant_id=probe.assistant_id,
                additional_messages=[{"role": "user", "content": probe.text}],
                metadata=probe.metadata,
            )
            path = f"threads/{probe.thread_id}/runs/{run.id}/events"
            async with self._threads.stream("GET", path) as chunks:
                async for event in iter_stream_events(chunks):
                    if event.event == "thread.message.delta":
                        data: Any = event.data
                        deltas.publish(ProbeDelta(len(texts), data.text))
                        texts.append(data.text)
                        if len(texts) == 1:
                            await stream.flush()  # the first token at once
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await stream.flush()
        return ProbeOutput(run_id=run.id, reply="".join(texts))


async def _flush_every(stream: WorkflowStreamClient, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await stream.flush()


@workflow.defn(name=PROBE_WORKFLOW)
class StreamProbeWorkflow:
    """Hosts the stream while its activity publishes."""

    @workflow.init
    def __init__(self, probe: ProbeInput) -> None:
        self.stream = WorkflowStream()

    @workflow.run
    async def run(self, probe: ProbeInput) -> ProbeOutput:
        """Stream one run."""
        out: ProbeOutput = await workflow.execute_activity(
            "stream_probe_run",
            probe,
            result_type=ProbeOutput,
            start_to_close_timeout=timedelta(minutes=5),
        )
        return out


async def subscribe(stream: WorkflowStreamClient, count: int) -> list[tuple[float, ProbeDelta]]:
    """Read deltas until `count` arrived (or the workflow ended): (arrival Unix s, delta)."""
    found: list[tuple[float, ProbeDelta]] = []
    async for item in stream.subscribe(
        [TOPIC], result_type=ProbeDelta, poll_cooldown=timedelta(milliseconds=10)
    ):
        found.append((time.time(), item.data))
        if len(found) >= count:
            break
    return found
