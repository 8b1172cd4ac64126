"""Heartbeats: how Temporal tells a slow activity from a dead worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.service import RPCError

DEFAULT_BEAT_SECONDS = 1.0
PROCESS_TOKEN = uuid.uuid4().hex
"""Names this worker process in its heartbeats, so that a retried attempt can tell whether the last
one ran here (alive, only slow) or in another process (likely dead). Not the SDK's `pid@host`
identity: a restarted container has the same pid and host name."""
RESET_STICKY_SECONDS = 2.0
"""Longest wait for the sticky-queue reset of a retried attempt (best effort: then it goes on)."""


def beat(*details: object) -> None:
    """Heartbeat if this is a regular activity (local activities cannot heartbeat)."""
    if not activity.info().is_local:
        activity.heartbeat(*details)


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background for as long as the block runs.

    The block may sit in one long-poll request for several seconds; beating beside it (at a third of
    the heartbeat timeout) keeps the worker's liveness separate from how long the server holds us.
    """
    await leave_the_dead_workers_queue()
    timeout = activity.info().heartbeat_timeout
    every = timeout.total_seconds() / 3 if timeout else DEFAULT_BEAT_SECONDS

    async def loop() -> None:
        while True:
            beat(PROCESS_TOKEN)
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()


async def leave_the_dead_workers_queue() -> None:
    """On an attempt retried after one that beat in another process, send the workflow's next task
    to its shared task queue.

    A heartbeating activity is retried when its worker stopped beating, usually because it died. That
    worker was likely the workflow's sticky worker too, so the task that takes this attempt's result
    would first be offered to its sticky queue, where nobody polls, and move to the shared queue only
    after the sticky timeout. Resetting the sticky queue (one RPC, only on such a retry) saves that
    wait; if the old worker was alive after all, the cost is one replay of the turn's short history.
    A retry in the process of the last attempt (a starved worker that missed its heartbeats) keeps
    the sticky queue: that worker is alive, and the shared queue may hold a long backlog. A last
    attempt that never beat died before its first heartbeat reached the server, so it counts as dead.
    """
    info = activity.info()
    last = info.heartbeat_details
    if info.attempt <= 1 or info.is_local or not info.workflow_id:
        return
    if last and last[0] == PROCESS_TOKEN:
        return
    try:
        client = activity.client()
    except RuntimeError:  # an activity environment without a client (unit tests)
        return
    request = ResetStickyTaskQueueRequest(
        namespace=info.namespace,
        execution=WorkflowExecution(workflow_id=info.workflow_id, run_id=info.workflow_run_id or ""),
    )
    try:
        await client.workflow_service.reset_sticky_task_queue(
            request, timeout=timedelta(seconds=RESET_STICKY_SECONDS)
        )
    except (RPCError, TimeoutError) as error:  # best effort: the wait goes on either way
        activity.logger.warning("could not reset the sticky queue of %s: %s", info.workflow_id, error)
