"""Rate limits: a model backend's `Retry-After` reaches the engine, which backs off within the turn's
deadline; and Temporal's task queue rate limit on the worker's activity starts.

Real worker and Temporal dev server. The model tests run a threads server of their own whose model
backend (a small HTTP app on a real socket) answers 429 a number of times, then a reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.engine.test_turns import turn
from threadloom.starter.api import Threadloom
from threadloom.starter.cli import build_parser, settings_from
from threadloom.starter.errors import RunFailed
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.threads_server.settings import LLMSettings
from threadloom.threads_server.testing import running_server, serve
from threadloom.worker import build_worker
from threadloom.workflows.contracts import PollSettings, RunOverrides, TurnPolicy

RETRY_AFTER_SECONDS = 2
ALWAYS = 1_000_000
RateLimited = Callable[..., AbstractAsyncContextManager[ThreadsClient]]


@pytest.fixture
def rate_limited(tmp_path: Path) -> RateLimited:
    """A threads server whose model answers 429 to the first `refusals` requests, then a reply."""

    @asynccontextmanager
    async def start(refusals: int, retry_after: int | None) -> AsyncIterator[ThreadsClient]:
        answered = []
        model = FastAPI()

        @model.post("/v1/chat/completions")
        async def complete(body: dict[str, Any]) -> JSONResponse:
            answered.append(body)
            if len(answered) <= refusals:
                headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
                return JSONResponse(
                    {"error": {"message": "slow down"}}, status_code=429, headers=headers
                )
            choice = {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hello"},
            }
            usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
            return JSONResponse({"id": "chatcmpl_1", "choices": [choice], "usage": usage})

        async with serve(model) as model_root:
            llm = LLMSettings(base_url=f"{model_root}/v1")
            async with running_server(tmp_path, llm=llm) as server:
                async with ThreadsClient(server.base_url, max_retries=0) as threads:
                    yield threads

    return start


async def a_turn(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, task_queue: str, policy: TurnPolicy
) -> tuple[str, Any]:
    """Run one turn on a new thread; returns the thread id and the result (or the error raised)."""
    assistant = await threads.assistants.create(model="some-model")
    thread_id = (await threads.threads.create()).id
    loom = Threadloom(temporal_env.client, task_queue=task_queue)
    async with build_worker(temporal_env.client, threads, task_queue=task_queue):
        try:
            return thread_id, await loom.run_turn(turn(thread_id, assistant.id, "hi", policy=policy))
        except RunFailed as error:
            return thread_id, error


async def test_a_rate_limited_run_is_retried_after_the_servers_retry_after(
    temporal_env: WorkflowEnvironment, rate_limited: RateLimited, task_queue: str
) -> None:
    async with rate_limited(1, RETRY_AFTER_SECONDS) as threads:
        policy = TurnPolicy(run_deadline_seconds=30)
        thread_id, result = await a_turn(temporal_env, threads, task_queue, policy)
        statuses = (await thread_state(threads, thread_id)).statuses

    assert result.reply == "hello"
    first, second = result.attempts
    assert (first.outcome, first.error_code, second.outcome) == (
        "failed",
        "rate_limit_exceeded",
        "completed",
    )
    assert (second.started_at - first.finished_at).total_seconds() >= RETRY_AFTER_SECONDS
    assert statuses == ["failed", "completed"]


async def test_rate_limited_runs_back_off_beyond_max_run_attempts_to_a_reply(
    temporal_env: WorkflowEnvironment, rate_limited: RateLimited, task_queue: str
) -> None:
    """Three refusals without `Retry-After` and one run allowed: the turn backs off and replies."""
    async with rate_limited(3, None) as threads:
        policy = TurnPolicy(max_run_attempts=1, rate_limit_backoff_seconds=0.5)
        thread_id, result = await a_turn(temporal_env, threads, task_queue, policy)
        statuses = (await thread_state(threads, thread_id)).statuses

    assert result.reply == "hello"
    assert statuses == ["failed", "failed", "failed", "completed"]
    assert [a.error_code for a in result.attempts[:3]] == ["rate_limit_exceeded"] * 3
    pauses = [
        (later.started_at - earlier.finished_at).total_seconds()
        for earlier, later in zip(result.attempts, result.attempts[1:], strict=False)
    ]
    # (the dev server fires a short timer up to about a second late)
    for pause, backoff in zip(pauses, (0.5, 1.0, 2.0), strict=True):
        assert backoff <= pause < backoff * 1.25 + 1.1, pauses
    assert pauses[2] > pauses[0] + 0.5, pauses


async def test_a_model_that_keeps_refusing_fails_the_turn_run_failed_at_its_deadline(
    temporal_env: WorkflowEnvironment, rate_limited: RateLimited, task_queue: str
) -> None:
    async with rate_limited(ALWAYS, 1) as threads:
        policy = TurnPolicy(turn_deadline_seconds=3)
        started = time.monotonic()
        thread_id, error = await a_turn(temporal_env, threads, task_queue, policy)
        took = time.monotonic() - started
        statuses = (await thread_state(threads, thread_id)).statuses

    assert isinstance(error, RunFailed), error
    assert "rate_limit_exceeded" in str(error) and "the turn's deadline passes" in str(error)
    assert error.details.get("error_code") == "rate_limit_exceeded", error.details
    assert len(statuses) >= 2 and set(statuses) == {"failed"}, statuses  # it did retry
    assert took < 3 + 2, took  # and gave up at the deadline, not after more waits


async def test_the_task_queue_rate_limit_spaces_activity_starts(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, assistant_id: str, task_queue: str
) -> None:
    """At 2 activity starts a second on the task queue, 7 turns' `wait_for_run` starts span ≥ 2 s.

    Unlimited, they start within a few hundred ms. The ideal span is 2.5 s (a burst of 2, then one
    every 0.5 s), but the start times are what the history service recorded after matching let each
    task through, and a loaded CI run recorded the last two 16 ms apart (a span of 2.32 s), so the
    bound leaves half a second for that."""
    client = temporal_env.client
    loom = Threadloom(client, task_queue=task_queue)
    worker = build_worker(client, threads, task_queue=task_queue, task_queue_activities_per_second=2)
    async with worker:
        thread_ids = [(await threads.threads.create()).id for _ in range(7)]
        # Runs that outlast the first read, so every turn's run is waited in the `wait_for_run`
        # activity (an instant run ends at the first read and starts no activity at all).
        slow = RunOverrides(metadata={"fault": "delay=1500"})
        quick_read = TurnPolicy(poll=PollSettings(first_read_wait_ms=100))
        requests = [
            turn(thread_id, assistant_id, "hi", run=slow, policy=quick_read) for thread_id in thread_ids
        ]
        results = await asyncio.gather(*(loom.run_turn(request) for request in requests))
    assert {result.reply for result in results} == {"Echo: hi"}
    starts = []
    for request in requests:
        history = await client.get_workflow_handle(request.workflow_id).fetch_history()
        starts += [
            event.event_time.ToDatetime()
            for event in history.events
            if event.HasField("activity_task_started_event_attributes")
        ]
    starts.sort()
    assert len(starts) == 7
    assert (starts[-1] - starts[0]).total_seconds() >= 2.0, starts


def test_the_task_queue_rate_limit_is_a_worker_flag_and_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flag = ["worker", "--task-queue-activities-per-second", "2.5"]
    assert settings_from(build_parser().parse_args(flag)).task_queue_activities_per_second == 2.5
    monkeypatch.setenv("THREADLOOM_TASK_QUEUE_ACTIVITIES_PER_SECOND", "7")
    assert settings_from(build_parser().parse_args(["worker"])).task_queue_activities_per_second == 7
    assert Settings.model_fields["task_queue_activities_per_second"].default is None
