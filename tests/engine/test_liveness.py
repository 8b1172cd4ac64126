"""A retried heartbeating attempt leaves the sticky queue only when the last one beat elsewhere.

Where the last attempt beat (which process) is what tells a dead worker from a slow one: here one
worker runs both attempts, and the test plays the other process by changing the process token the
first attempt beat with. The kill itself is in tests/engine/test_worker_crash.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from threadloom.activities import liveness

BEAT_FOR_SECONDS = 1.0
"""Long enough for the first attempt's heartbeat to be recorded before it fails."""


@activity.defn
async def beat_then_fail_once(last_attempt: str) -> int:
    """Attempt 1 fails (as if its worker had stopped beating) after beating in this process, in
    `another process`, or before it could beat (`never beat`); attempt 2 succeeds."""
    if activity.info().attempt == 1 and last_attempt == "never beat":
        raise ApplicationError("the first attempt fails before its first heartbeat")
    async with liveness.heartbeating():
        if activity.info().attempt > 1:
            return activity.info().attempt
        await asyncio.sleep(BEAT_FOR_SECONDS)
    if last_attempt == "another process":  # the next attempt runs with another process's token
        liveness.PROCESS_TOKEN = uuid.uuid4().hex
    raise ApplicationError("the first attempt fails")


@workflow.defn
class RetriedBeat:
    @workflow.run
    async def run(self, last_attempt: str) -> int:
        return await workflow.execute_activity(
            beat_then_fail_once,
            last_attempt,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


async def kinds_after_the_retry(temporal_env: WorkflowEnvironment, last_attempt: str) -> list[int]:
    """The task queue kinds of the workflow tasks scheduled after the retried attempt completed."""
    client, queue = temporal_env.client, f"liveness-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RetriedBeat],
        activities=[beat_then_fail_once],
        workflow_runner=UnsandboxedWorkflowRunner(),  # the activity is what is under test
    ):
        handle = await client.start_workflow(
            RetriedBeat.run, last_attempt, id=f"retried-beat-{uuid.uuid4().hex}", task_queue=queue
        )
        assert await asyncio.wait_for(handle.result(), 30) == 2
    events = [event async for event in handle.fetch_history_events()]
    completed = next(
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    )
    return [
        e.workflow_task_scheduled_event_attributes.task_queue.kind
        for e in events
        if e.event_id > completed and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]


async def test_a_retry_after_an_attempt_in_another_process_uses_the_shared_queue(
    temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(liveness, "PROCESS_TOKEN", liveness.PROCESS_TOKEN)  # restored afterwards
    kinds = await kinds_after_the_retry(temporal_env, "another process")
    assert kinds == [TaskQueueKind.TASK_QUEUE_KIND_NORMAL]


async def test_a_retry_after_an_attempt_that_never_beat_uses_the_shared_queue(
    temporal_env: WorkflowEnvironment,
) -> None:
    kinds = await kinds_after_the_retry(temporal_env, "never beat")
    assert kinds == [TaskQueueKind.TASK_QUEUE_KIND_NORMAL]


async def test_a_retry_in_the_same_process_keeps_the_sticky_queue(
    temporal_env: WorkflowEnvironment,
) -> None:
    kinds = await kinds_after_the_retry(temporal_env, "this process")
    assert kinds == [TaskQueueKind.TASK_QUEUE_KIND_STICKY]


class _UnavailableService:
    async def reset_sticky_task_queue(self, *args: object, **kwargs: object) -> None:
        raise RPCError("frontend unavailable", RPCStatusCode.UNAVAILABLE, b"")


class _UnavailableTemporal:
    """A client whose frontend refuses the reset: the one thing this test is about."""

    workflow_service = _UnavailableService()


async def test_a_failed_reset_does_not_fail_the_attempt(caplog: pytest.LogCaptureFixture) -> None:
    env = ActivityEnvironment(client=_UnavailableTemporal())  # type: ignore[arg-type]
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=["the token of a dead process"]
    )

    async def attempt() -> str:
        async with liveness.heartbeating():
            return "waited"

    assert await env.run(attempt) == "waited"
    assert "could not reset the sticky queue" in caplog.text
