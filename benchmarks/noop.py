"""The baselines: no-op workflows with `TurnWorkflow`'s shapes, doing nothing else.

A happy turn on threadloom's server is one workflow task: the patch marker of
`MESSAGE_WITH_RUN_PATCH` (with the search-attribute upsert the SDK adds to every patch) and one local
activity (`create_run`, which posts the message with the run and reads the run once). The baseline
does the same and returns at once: what is left is Temporal's own cost of a turn, on the same dev
server and in a worker process of the same kind. (Before that patch a turn was three local
activities and one regular activity; `git log` has that baseline.)
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalio import activity, workflow

NOOP_WORKFLOW = "BenchNoopTurn"
NOOP_WAIT_WORKFLOW = "BenchNoopWaitTurn"
LOCAL = timedelta(seconds=30)
SHAPE_PATCH = "bench-noop-shape"


@activity.defn(name="bench_noop_local")
async def noop_local(step: str) -> str:
    """Stands in for one short Threads API call."""
    return step


@activity.defn(name="bench_noop_ended")
async def noop_ended() -> float:
    """Stands in for `create_run` whose first read saw the run end: returns now (Unix ms)."""
    return time.time() * 1000


@activity.defn(name="bench_noop_wait")
async def noop_wait(run_ms: int) -> float:
    """Stands in for a run and `wait_for_run`: sleeps `run_ms`, then returns now (Unix ms)."""
    await asyncio.sleep(run_ms / 1000)
    return time.time() * 1000


@workflow.defn(name=NOOP_WORKFLOW)
class NoopTurnWorkflow:
    """A patch marker and one local activity, doing nothing."""

    @workflow.run
    async def run(self, text: str) -> str:
        """Return `text` after the no-op local activity."""
        workflow.patched(SHAPE_PATCH)
        await workflow.execute_local_activity(noop_local, "create_run", start_to_close_timeout=LOCAL)
        return text


@workflow.defn(name=NOOP_WAIT_WORKFLOW)
class NoopWaitTurnWorkflow:
    """The patch marker and the local activity, then a regular activity as long as the run."""

    @workflow.run
    async def run(self, run_ms: int) -> float:
        """When the stand-in run ended (Unix ms, the worker's clock)."""
        workflow.patched(SHAPE_PATCH)
        ended = await workflow.execute_local_activity(noop_ended, start_to_close_timeout=LOCAL)
        if run_ms > 0:
            ended = await workflow.execute_activity(
                noop_wait, run_ms, start_to_close_timeout=LOCAL + timedelta(milliseconds=run_ms)
            )
        return ended
