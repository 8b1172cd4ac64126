"""Overload settings of the worker: the resource-based tuner admits work by the host's load; a
worker built with it runs turns as any other (real dev server, threads server and worker)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.engine.test_turns import turn
from threadloom.starter.api import Threadloom
from threadloom.starter.cli import build_parser, settings_from
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import PollSettings, RunOverrides, TurnPolicy


async def test_a_resource_tuned_worker_runs_waited_turns_to_their_replies(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, assistant_id: str, task_queue: str
) -> None:
    loom = Threadloom(temporal_env.client, task_queue=task_queue)
    async with build_worker(temporal_env.client, threads, task_queue=task_queue, tuner="resource"):
        thread_ids = [(await threads.threads.create()).id for _ in range(6)]
        slow = RunOverrides(metadata={"fault": "delay=1200"})  # outlasts the first read: waited
        quick_read = TurnPolicy(poll=PollSettings(first_read_wait_ms=100))
        requests = [
            turn(t, assistant_id, f"hi {i}", run=slow, policy=quick_read)
            for i, t in enumerate(thread_ids)
        ]
        results = await asyncio.gather(*(loom.run_turn(request) for request in requests))
    assert [r.reply for r in results] == [f"Echo: hi {i}" for i in range(6)]
    for thread_id in thread_ids:
        assert (await thread_state(threads, thread_id)).statuses == ["completed"]


def test_the_tuner_is_a_worker_flag_and_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(build_parser().parse_args(["worker"])).worker_tuner == "fixed"
    flag = ["worker", "--worker-tuner", "resource"]
    assert settings_from(build_parser().parse_args(flag)).worker_tuner == "resource"
    monkeypatch.setenv("THREADLOOM_WORKER_TUNER", "resource")
    monkeypatch.setenv("THREADLOOM_WORKER_TARGET_CPU", "0.9")
    settings = Settings()
    assert (settings.worker_tuner, settings.worker_target_cpu) == ("resource", 0.9)
    monkeypatch.setenv("THREADLOOM_WORKER_TUNER", "dynamic")
    with pytest.raises(ValidationError, match="worker_tuner"):
        Settings()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--worker-tuner", "dynamic"])
