"""A model backend's `Retry-After` reaches the engine: the next run waits that long.

Real worker and Temporal dev server; a threads server of its own whose model backend (a small HTTP
app) answers 429 with `Retry-After: 2` once, then a reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.engine.test_turns import turn
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.threads_server.settings import LLMSettings
from threadloom.threads_server.testing import running_server, serve
from threadloom.worker import build_worker
from threadloom.workflows.contracts import TurnPolicy

RETRY_AFTER_SECONDS = 2


@pytest.fixture
async def rate_limited_threads(tmp_path: Path) -> AsyncIterator[ThreadsClient]:
    """A threads server whose model answers 429 (`Retry-After: 2`) to the first request only."""
    answered = []
    model = FastAPI()

    @model.post("/v1/chat/completions")
    async def complete(body: dict[str, Any]) -> JSONResponse:
        answered.append(body)
        if len(answered) == 1:
            return JSONResponse(
                {"error": {"message": "slow down"}},
                status_code=429,
                headers={"retry-after": str(RETRY_AFTER_SECONDS)},
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


async def test_a_rate_limited_run_is_retried_after_the_servers_retry_after(
    temporal_env: WorkflowEnvironment, rate_limited_threads: ThreadsClient, task_queue: str
) -> None:
    threads = rate_limited_threads
    assistant = await threads.assistants.create(model="some-model")
    thread_id = (await threads.threads.create()).id
    loom = Threadloom(temporal_env.client, task_queue=task_queue)
    async with build_worker(temporal_env.client, threads, task_queue=task_queue):
        result = await loom.run_turn(
            turn(thread_id, assistant.id, "hi", policy=TurnPolicy(run_deadline_seconds=30))
        )

    assert result.reply == "hello"
    first, second = result.attempts
    assert (first.outcome, first.error_code, second.outcome) == (
        "failed",
        "rate_limit_exceeded",
        "completed",
    )
    assert (second.started_at - first.finished_at).total_seconds() >= RETRY_AFTER_SECONDS
    assert (await thread_state(threads, thread_id)).statuses == ["failed", "completed"]
