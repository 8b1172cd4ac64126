"""`TurnWorkflow` against fake activities registered under the real names (no Threads API).

The fakes script how each run ends; the tests check the workflow's decisions: retry or not, cancel
or not, which failure type, and that a happy turn stays small in history.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from tests.engine.observe import wait_for_phase
from threadloom.starter.api import Threadloom
from threadloom.starter.errors import RunFailed, RunRequiresAction, RunTimedOut, TurnCancelled
from threadloom.worker import WORKFLOWS, sandbox_runner
from threadloom.workflows.activity_contracts import (
    AddMessageInput,
    AddMessageOutput,
    CancelRunInput,
    CancelRunOutput,
    CreateRunInput,
    CreateRunOutput,
    FetchReplyInput,
    FetchReplyOutput,
    RunSnapshot,
    WaitForRunInput,
)
from threadloom.workflows.contracts import TurnPolicy, TurnRequest, UserMessage


@dataclass
class FakeThreads:
    """Scripted run endings, one per attempt: a status, or `"stuck"` (deadline passes)."""

    endings: list[str]
    calls: list[str] = field(default_factory=list)
    cancelled: list[str | None] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="add_message")
        async def add_message(request: AddMessageInput) -> AddMessageOutput:
            self.calls.append("add_message")
            return AddMessageOutput(message_id="msg_1")

        @activity.defn(name="create_run")
        async def create_run(request: CreateRunInput) -> CreateRunOutput:
            self.calls.append("create_run")
            ending, run_id = self.endings[request.attempt - 1], f"run_{request.attempt}"
            if ending == "hangs while created":
                await asyncio.sleep(3600)
            if ending == "completed at once" and request.first_read_wait_ms is not None:
                reply = FetchReplyOutput(text=f"reply of {run_id}", user_message_id="msg_1")
                first = RunSnapshot(run_id=run_id, status="completed", reply=reply)
                return CreateRunOutput(run_id=run_id, status="queued", run=first)
            return CreateRunOutput(run_id=run_id, status="queued")

        @activity.defn(name="wait_for_run")
        async def wait_for_run(request: WaitForRunInput) -> RunSnapshot:
            self.calls.append("wait_for_run")
            ending = self.endings[int(request.run_id.removeprefix("run_")) - 1]
            if ending == "stuck":
                return RunSnapshot(run_id=request.run_id, status="in_progress", deadline_passed=True)
            status, _, code = ending.partition(":")
            return RunSnapshot(run_id=request.run_id, status=status, error_code=code or None)

        @activity.defn(name="cancel_run")
        async def cancel_run(request: CancelRunInput) -> CancelRunOutput:
            self.calls.append("cancel_run")
            self.cancelled.append(request.run_id)
            return CancelRunOutput(status="cancelled")

        @activity.defn(name="fetch_reply")
        async def fetch_reply(request: FetchReplyInput) -> FetchReplyOutput:
            self.calls.append("fetch_reply")
            return FetchReplyOutput(text=f"reply of {request.run_id}", message_ids=["msg_2"])

        return [add_message, create_run, wait_for_run, cancel_run, fetch_reply]


@pytest.fixture
def fake_worker(temporal_env: WorkflowEnvironment, task_queue: str) -> Callable[[list[str]], Any]:
    """Start a worker with fakes scripted by `endings`: `async with fake_worker([...]) as fake:`."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(endings: list[str]) -> AsyncIterator[FakeThreads]:
        fake = FakeThreads(endings)
        async with Worker(
            temporal_env.client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=fake.activities(),
            workflow_runner=sandbox_runner(),
        ):
            yield fake

    return start


def turn(**policy: Any) -> TurnRequest:
    return TurnRequest(
        thread_id="thread_fake",
        assistant_id="asst_fake",
        message=UserMessage(text="hello there"),
        policy=TurnPolicy(**policy),
    )


async def test_happy_turn_is_small_in_history(loom: Threadloom, fake_worker: Any) -> None:
    async with fake_worker(["completed"]) as fake:
        handle = await loom.start_turn(turn())
        result = await handle.result()
        progress = await handle.progress()
    assert result.reply == "reply of run_1"
    assert [a.outcome for a in result.attempts] == ["completed"]
    # The message goes with the run; the fake's first read sees the run still queued.
    assert fake.calls == ["create_run", "wait_for_run", "fetch_reply"]
    assert progress.phase == "done"
    history: WorkflowHistory = await loom.client.get_workflow_handle(handle.workflow_id).fetch_history()
    assert len(history.events) <= 20


async def test_a_run_ended_at_the_first_read_skips_the_wait(loom: Threadloom, fake_worker: Any) -> None:
    async with fake_worker(["completed at once"]) as fake:
        handle = await loom.start_turn(turn())
        result = await handle.result()
    assert result.reply == "reply of run_1"
    assert result.user_message_id == "msg_1"
    assert fake.calls == ["create_run"]  # no wait activity, no fetch: the read carried the reply
    history = await loom.client.get_workflow_handle(handle.workflow_id).fetch_history()
    assert len(history.events) <= 12


async def test_stuck_run_is_cancelled_and_rerun(loom: Threadloom, fake_worker: Any) -> None:
    async with fake_worker(["stuck", "failed:server_error", "completed"]) as fake:
        handle = await loom.start_turn(turn(max_run_attempts=3))
        result = await handle.result()
    assert result.run_id == "run_3"
    assert [a.outcome for a in result.attempts] == ["timed_out", "failed", "completed"]
    assert fake.cancelled == ["run_1"]  # a failed run is over already: nothing to cancel

    history = await loom.client.get_workflow_handle(handle.workflow_id).fetch_history()
    replayer = Replayer(
        workflows=WORKFLOWS, workflow_runner=sandbox_runner(), data_converter=pydantic_data_converter
    )
    await replayer.replay_workflow(history)  # raises on non-determinism


async def test_always_stuck_ends_in_run_timed_out(loom: Threadloom, fake_worker: Any) -> None:
    async with fake_worker(["stuck", "stuck"]) as fake:
        with pytest.raises(RunTimedOut) as caught:
            await loom.run_turn(turn(max_run_attempts=2))
    assert fake.cancelled == ["run_1", "run_2"]
    assert "fetch_reply" not in fake.calls
    assert caught.value.details["run_id"] == "run_2"


async def test_invalid_prompt_is_not_retried(loom: Threadloom, fake_worker: Any) -> None:
    async with fake_worker(["failed:invalid_prompt", "completed"]) as fake:
        with pytest.raises(RunFailed, match="invalid_prompt"):
            await loom.run_turn(turn())
    assert fake.calls.count("create_run") == 1


async def test_requires_action_cancels_and_fails(loom: Threadloom, fake_worker: Any) -> None:
    async with fake_worker(["requires_action", "completed"]) as fake:
        with pytest.raises(RunRequiresAction):
            await loom.run_turn(turn())
    assert fake.cancelled == ["run_1"]
    assert fake.calls.count("create_run") == 1


async def test_cancelled_while_creating_the_run_cancels_it_by_its_tags(
    loom: Threadloom, fake_worker: Any
) -> None:
    async with fake_worker(["hangs while created"]) as fake:
        handle = await loom.start_turn(turn())
        await wait_for_phase(handle, "creating_run")
        await handle.cancel()
        with pytest.raises(TurnCancelled):
            await handle.result()
    assert fake.cancelled == [None]  # no id known yet: the activity looks the run up by its tags
