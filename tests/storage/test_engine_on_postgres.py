"""The engine's fault and crash paths once against a threads server on PostgreSQL (the engine suite
itself runs on the session's SQLite server): a failed run retried with a new one, and a worker
SIGKILLed in the middle of a run, each leaving exactly one user message, reply and completed run."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state, wait_for_phase
from tests.engine.test_turns import FAST_POLICY, turn
from tests.engine.test_worker_crash import assert_one_turn, slow_turn, worker_process
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.threads_server.testing import ServerHandle, running_server
from threadloom.worker import build_worker
from threadloom.workflows.contracts import RunOverrides


@pytest.fixture
async def pg_server(postgres_url: str) -> AsyncIterator[ServerHandle]:
    async with running_server(postgres_url, faults_enabled=True) as server:
        yield server


@pytest.fixture
async def pg_threads(pg_server: ServerHandle) -> AsyncIterator[ThreadsClient]:
    async with ThreadsClient(pg_server.base_url, max_retries=0) as client:
        yield client


async def test_a_failed_run_is_retried_with_a_new_run_on_postgresql(
    temporal_env: WorkflowEnvironment, pg_threads: ThreadsClient, loom: Threadloom, task_queue: str
) -> None:
    assistant = await pg_threads.assistants.create(model="echo")
    thread = await pg_threads.threads.create()
    fail_once = RunOverrides(metadata={"fault": "fail=server_error", "fault_times": "1"})
    async with build_worker(temporal_env.client, pg_threads, task_queue=task_queue):
        result = await loom.run_turn(
            turn(thread.id, assistant.id, "flaky", run=fail_once, policy=FAST_POLICY)
        )
    assert result.reply == "Echo: flaky"
    state = await thread_state(pg_threads, thread.id)
    assert state.statuses == ["failed", "completed"]
    assert len(state.user_messages) == 1


async def test_a_killed_worker_is_replaced_without_duplicates_on_postgresql(
    temporal_env: WorkflowEnvironment,
    pg_server: ServerHandle,
    pg_threads: ThreadsClient,
    loom: Threadloom,
    task_queue: str,
) -> None:
    assistant = await pg_threads.assistants.create(model="echo")
    thread = await pg_threads.threads.create()
    start = worker_process(temporal_env, pg_server, task_queue)
    request = slow_turn(thread.id, assistant.id, "survive a crash", run_ms=3000, heartbeat_seconds=2)
    async with start() as first:
        handle = await loom.start_turn(request)
        await wait_for_phase(handle, "waiting")
        first.kill()
        assert await first.wait() == -signal.SIGKILL
    async with start() as second:
        result = await asyncio.wait_for(handle.result(), 60)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
    await assert_one_turn(pg_threads, thread.id, result, "survive a crash")
