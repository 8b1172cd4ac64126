"""The throughput baseline: a no-op workflow with `TurnWorkflow`'s happy-path activity shape.

Three local activities (`add_message`, `create_run`, `fetch_reply`) and one regular activity
(`wait_for_run`), in the same order and with the same kinds, each returning at once: what is left is
Temporal's own cost of a turn, on the same dev server and in a worker process of the same kind.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

NOOP_WORKFLOW = "BenchNoopTurn"
LOCAL = timedelta(seconds=30)


@activity.defn(name="bench_noop_local")
async def noop_local(step: str) -> str:
    """Stands in for one short Threads API call."""
    return step


@activity.defn(name="bench_noop_wait")
async def noop_wait(step: str) -> str:
    """Stands in for `wait_for_run`, a regular activity."""
    return step


@workflow.defn(name=NOOP_WORKFLOW)
class NoopTurnWorkflow:
    """add message → create run → wait → fetch reply, doing nothing."""

    @workflow.run
    async def run(self, text: str) -> str:
        """Return `text` after the four no-op activities."""
        for step in ("add_message", "create_run"):
            await workflow.execute_local_activity(noop_local, step, start_to_close_timeout=LOCAL)
        await workflow.execute_activity(
            noop_wait, "wait_for_run", start_to_close_timeout=LOCAL, heartbeat_timeout=LOCAL
        )
        await workflow.execute_local_activity(noop_local, "fetch_reply", start_to_close_timeout=LOCAL)
        return text
