"""The throughput baseline: a no-op workflow with `TurnWorkflow`'s happy-path shape.

A happy turn on threadloom's server is one workflow task: the patch marker of
`MESSAGE_WITH_RUN_PATCH` (with the search-attribute upsert the SDK adds to every patch) and one local
activity (`create_run`, which posts the message with the run and reads the run once). The baseline
does the same and returns at once: what is left is Temporal's own cost of a turn, on the same dev
server and in a worker process of the same kind. (Before that patch a turn was three local
activities and one regular activity; `git log` has that baseline.)
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

NOOP_WORKFLOW = "BenchNoopTurn"
LOCAL = timedelta(seconds=30)
SHAPE_PATCH = "bench-noop-shape"


@activity.defn(name="bench_noop_local")
async def noop_local(step: str) -> str:
    """Stands in for one short Threads API call."""
    return step


@activity.defn(name="bench_noop_wait")
async def noop_wait(step: str) -> str:
    """Stands in for `wait_for_run`, a regular activity (runs longer than the first read)."""
    return step


@workflow.defn(name=NOOP_WORKFLOW)
class NoopTurnWorkflow:
    """A patch marker and one local activity, doing nothing."""

    @workflow.run
    async def run(self, text: str) -> str:
        """Return `text` after the no-op local activity."""
        workflow.patched(SHAPE_PATCH)
        await workflow.execute_local_activity(noop_local, "create_run", start_to_close_timeout=LOCAL)
        return text
