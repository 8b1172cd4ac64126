"""A worker process killed with SIGKILL while it waits on a run; another one finishes the turn."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state, wait_for_phase
from threadloom import worker
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import RunOverrides, TurnPolicy, TurnRequest, UserMessage

WORKER_SCRIPT = Path(worker.__file__).resolve()


def worker_process(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    task_queue: str,
    **settings: str,
) -> Callable[[], Any]:
    """`async with start() as process:` runs `python worker.py` against the test servers
    (`settings`: more `THREADLOOM_*` variables, by their lower-case names without the prefix)."""
    env = {
        **os.environ,
        "THREADLOOM_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "THREADLOOM_THREADS_BASE_URL": threads_server.base_url,
        "THREADLOOM_TASK_QUEUE": task_queue,
        "THREADLOOM_LOG_FORMAT": "json",
        "THREADLOOM_LOG_LEVEL": "WARNING",
        **{f"THREADLOOM_{name.upper()}": value for name, value in settings.items()},
    }

    @asynccontextmanager
    async def start() -> AsyncIterator[asyncio.subprocess.Process]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER_SCRIPT), cwd=WORKER_SCRIPT.parent, env=env
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)

    return start


def slow_turn(
    thread_id: str, assistant_id: str, text: str, *, run_ms: int, heartbeat_seconds: float
) -> TurnRequest:
    """A turn whose run takes `run_ms`, waited on with `heartbeat_seconds` of heartbeat timeout."""
    return TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        run=RunOverrides(metadata={"fault": f"delay={run_ms}"}),
        policy=TurnPolicy(heartbeat_timeout_seconds=heartbeat_seconds),
    )


async def assert_one_turn(threads: ThreadsClient, thread_id: str, result: Any, text: str) -> None:
    """The turn replied after one run, and its thread holds its user message, one reply and one
    completed run."""
    assert result.reply == f"Echo: {text}"
    assert len(result.attempts) == 1
    state = await thread_state(threads, thread_id)
    assert [m.role for m in state.messages] == ["user", "assistant"]
    assert state.messages[0].id == result.user_message_id
    assert state.statuses == ["completed"]


async def test_killed_worker_is_replaced_without_duplicates(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    threads: ThreadsClient,
    loom: Threadloom,
    task_queue: str,
    thread_id: str,
    assistant_id: str,
) -> None:
    start = worker_process(temporal_env, threads_server, task_queue)
    request = slow_turn(thread_id, assistant_id, "survive a crash", run_ms=4000, heartbeat_seconds=2)
    async with start() as first:
        handle = await loom.start_turn(request)
        await wait_for_phase(handle, "waiting")
        first.kill()  # SIGKILL: no graceful shutdown, the wait activity dies mid-poll
        assert await first.wait() == -signal.SIGKILL

    async with start() as second:
        result = await asyncio.wait_for(handle.result(), 60)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0  # graceful shutdown

    await assert_one_turn(threads, thread_id, result, "survive a crash")


async def test_a_redeployed_worker_hands_its_waiting_turn_over(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    threads: ThreadsClient,
    loom: Threadloom,
    task_queue: str,
    thread_id: str,
    assistant_id: str,
) -> None:
    """SIGTERM (a redeploy) while the run outlasts the old worker's 10 s graceful shutdown."""
    start = worker_process(temporal_env, threads_server, task_queue)
    # The heartbeat timeout is long: the handover must not wait for it.
    request = slow_turn(
        thread_id, assistant_id, "survive a redeploy", run_ms=13_000, heartbeat_seconds=60
    )
    async with start() as old:
        handle = await loom.start_turn(request)
        await wait_for_phase(handle, "waiting")
        old.send_signal(signal.SIGTERM)
        async with start() as new:
            assert await asyncio.wait_for(old.wait(), 30) == 0  # drained and exited cleanly
            result = await asyncio.wait_for(handle.result(), 45)
            new.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(new.wait(), 30) == 0

    await assert_one_turn(threads, thread_id, result, "survive a redeploy")


async def test_a_killed_workers_turn_does_not_wait_for_its_sticky_queue(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    threads: ThreadsClient,
    loom: Threadloom,
    task_queue: str,
    thread_id: str,
    assistant_id: str,
) -> None:
    """The task that takes the retried wait's result goes to the shared queue, not the dead
    worker's sticky queue (where it would sit out the sticky timeout, here 60 s)."""
    start = worker_process(temporal_env, threads_server, task_queue, sticky_queue_timeout_seconds="60")
    request = slow_turn(
        thread_id, assistant_id, "leave the sticky queue", run_ms=4000, heartbeat_seconds=2
    )
    async with start() as first:
        handle = await loom.start_turn(request)
        await wait_for_phase(handle, "waiting")
        first.kill()
        assert await first.wait() == -signal.SIGKILL

    async with start():
        result = await asyncio.wait_for(handle.result(), 45)  # not after the 60 s sticky timeout

    await assert_one_turn(threads, thread_id, result, "leave the sticky queue")
    history = loom.client.get_workflow_handle(handle.workflow_id)
    events = [event async for event in history.fetch_history_events()]
    kinds = [event.event_type for event in events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT not in kinds
    retried = next(
        e for e in events if e.activity_task_started_event_attributes.attempt > 1
    )  # the wait, retried on the second worker after the first one's heartbeat timeout
    after = [
        e.workflow_task_scheduled_event_attributes.task_queue.kind
        for e in events
        if e.event_id > retried.event_id and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]
    assert after == [TaskQueueKind.TASK_QUEUE_KIND_NORMAL]
