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

from temporalio.testing import WorkflowEnvironment

import worker
from starter.api import Threadloom
from tests.engine.observe import thread_state, wait_for_phase
from threads_client import ThreadsClient
from workflows.contracts import RunOverrides, TurnPolicy, TurnRequest, UserMessage

WORKER_SCRIPT = Path(worker.__file__).resolve()


def worker_process(
    temporal_env: WorkflowEnvironment, threads_server: Any, task_queue: str
) -> Callable[[], Any]:
    """`async with start() as process:` runs `python worker.py` against the test servers."""
    env = {
        **os.environ,
        "THREADLOOM_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "THREADLOOM_THREADS_BASE_URL": threads_server.base_url,
        "THREADLOOM_TASK_QUEUE": task_queue,
        "THREADLOOM_LOG_FORMAT": "json",
        "THREADLOOM_LOG_LEVEL": "WARNING",
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
    request = TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="survive a crash"),
        run=RunOverrides(metadata={"fault": "delay=4000"}),
        policy=TurnPolicy(heartbeat_timeout_seconds=2),
    )
    async with start() as first:
        handle = await loom.start_turn(request)
        await wait_for_phase(handle, "waiting")
        first.kill()  # SIGKILL: no graceful shutdown, the wait activity dies mid-poll
        assert await first.wait() == -signal.SIGKILL

    async with start() as second:
        result = await asyncio.wait_for(handle.result(), 60)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0  # graceful shutdown

    assert result.reply == "Echo: survive a crash"
    assert len(result.attempts) == 1
    state = await thread_state(threads, thread_id)
    assert len(state.user_messages) == 1
    assert state.statuses == ["completed"]


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
    request = TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="survive a redeploy"),
        run=RunOverrides(metadata={"fault": "delay=13000"}),
        policy=TurnPolicy(heartbeat_timeout_seconds=60),  # the handover must not wait for it
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

    assert result.reply == "Echo: survive a redeploy"
    assert len(result.attempts) == 1
    state = await thread_state(threads, thread_id)
    assert len(state.user_messages) == 1
    assert state.statuses == ["completed"]
