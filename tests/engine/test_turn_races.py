"""Turns where timing used to decide the outcome: a cancel while the turn cancels its own run, a run
that finished while the turn gave up on it, a turn key left out by a starter that is not ours.

Real worker, real Temporal dev server, real threads server over HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.engine.test_turns import FAST_POLICY, turn
from threadloom.starter.api import Threadloom, TurnHandle
from threadloom.starter.errors import TurnCancelled
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import TURN_KEY_TAG, TURN_WORKFLOW, RunOverrides, TurnResult


async def add_faults(control: httpx.AsyncClient, *faults: dict[str, object]) -> None:
    for fault in faults:
        (await control.post("/_threadloom/faults", json=fault)).raise_for_status()


async def wait_until_fault_used(control: httpx.AsyncClient, path: str, times: int) -> None:
    """Until the server has answered a request with the queued fault on `path` at least once."""
    for _ in range(600):
        faults = (await control.get("/_threadloom/faults")).json()["faults"]
        left = sum(f["times"] for f in faults if f["path"] == path)
        if left < times:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no request to {path} in 30 s")


@pytest.mark.usefixtures("engine_worker")
async def test_a_cancel_while_the_turn_cancels_its_stalled_run_is_not_ignored(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
    task_queue: str,
) -> None:
    """The run stalls past its deadline; while the turn is cancelling it (the cancel POST failing for
    ~3 s), the turn itself is cancelled. It ends cancelled, with no second run and no reply (it used
    to swallow its own cancellation there, start attempt 2 and complete).

    A 2 s workflow task timeout makes the worker hand the cancel to the workflow (at its task
    heartbeat, ~1.6 s) while the cancel activity still retries, as the issue's reproduction did."""
    path = "/v1/threads/*/runs/*/cancel"
    await add_faults(control, {"method": "POST", "path": path, "action": "500", "times": 4})
    stall_once = RunOverrides(metadata={"fault": "stall", "fault_times": "1"})
    request = turn(thread_id, assistant_id, run=stall_once, policy=FAST_POLICY)
    handle: WorkflowHandle[object, TurnResult] = await loom.client.start_workflow(
        TURN_WORKFLOW,
        request,
        id=request.workflow_id,
        task_queue=task_queue,
        result_type=TurnResult,
        task_timeout=timedelta(seconds=2),
    )
    await wait_until_fault_used(control, path, 4)

    await handle.cancel()

    with pytest.raises(TurnCancelled):
        await asyncio.wait_for(TurnHandle(handle).result(), 30)
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["cancelled"]
    assert [m.role for m in state.messages] == ["user"]


@pytest.mark.usefixtures("engine_worker")
async def test_a_run_that_completes_while_the_turn_gives_up_on_it_is_kept(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
) -> None:
    """The run finishes 3 s in, after its 1.5 s deadline, while the turn's cancel keeps failing: the
    cancel finds it `completed`, and the turn returns that reply instead of running it again."""
    cancel_fails = {"method": "POST", "path": "/v1/threads/*/runs/*/cancel", "action": "500", "times": 4}
    await add_faults(control, cancel_fails)
    slow_once = RunOverrides(metadata={"fault": "delay=3000", "fault_times": "1"})

    result = await loom.run_turn(
        turn(thread_id, assistant_id, "late", run=slow_once, policy=FAST_POLICY)
    )

    assert result.reply == "Echo: late"
    assert [a.outcome for a in result.attempts] == ["completed"]
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["completed"]
    assert [m.role for m in state.messages] == ["user", "assistant"]


@pytest.fixture
async def replaying_worker(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, task_queue: str
) -> AsyncIterator[None]:
    """The real worker with no workflow cache: every workflow task replays the turn from its start,
    decoding its input again, as after a worker restart or a cache eviction."""
    async with build_worker(temporal_env.client, threads, task_queue=task_queue, max_cached_workflows=0):
        yield


@pytest.mark.usefixtures("replaying_worker")
async def test_a_turn_started_without_a_key_keeps_one_key_across_replays(
    temporal_env: WorkflowEnvironment,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    task_queue: str,
) -> None:
    """Started as the `temporal` CLI or another SDK would, with no `turn_key`: the message and the
    run carry the same key, derived from the workflow id (a default made up while decoding used to
    change on every replay)."""
    client: Client = temporal_env.client
    workflow_id = f"cli-started-{uuid.uuid4().hex[:8]}"
    request = {"thread_id": thread_id, "assistant_id": assistant_id, "message": {"text": "no key"}}
    handle: WorkflowHandle[object, TurnResult] = await client.start_workflow(
        TURN_WORKFLOW, request, id=workflow_id, task_queue=task_queue, result_type=TurnResult
    )

    result = await asyncio.wait_for(TurnHandle(handle).result(), 30)

    assert result.reply == "Echo: no key"
    state = await thread_state(threads, thread_id)
    assert len(state.messages) == 2 and len(state.runs) == 1
    message_key = (state.user_messages[0].metadata or {})[TURN_KEY_TAG]
    run_key = (state.runs[0].metadata or {})[TURN_KEY_TAG]
    assert message_key == run_key
    assert message_key.startswith("wf-")


async def test_a_worker_runs_a_turn_from_a_newer_starter_with_fields_it_does_not_know(
    temporal_env: WorkflowEnvironment,
    engine_worker: None,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    task_queue: str,
) -> None:
    """Deploy order: a starter redeployed before the workers sends a field they do not know yet;
    the turn runs (its workflow task does not fail on decoding) and the field is ignored."""
    request = {
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "message": {"text": "from the future", "priority": "high"},
        "policy": {"poll": {"hold_ms": 5}, "new_knob": True},
        "turn_key": uuid.uuid4().hex,
    }
    handle: WorkflowHandle[object, TurnResult] = await temporal_env.client.start_workflow(
        TURN_WORKFLOW,
        request,
        id=f"newer-starter-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=TurnResult,
    )
    result = await asyncio.wait_for(TurnHandle(handle).result(), 30)
    assert result.reply == "Echo: from the future"
    assert len((await thread_state(threads, thread_id)).runs) == 1
