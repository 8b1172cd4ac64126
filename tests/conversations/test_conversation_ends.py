"""How a conversation ends and what its callers see then: cancelled, closed twice, large replies
carried across continue-as-new, Temporal out of reach.

Real worker, real Temporal dev server, real threads server over HTTP; assertions on what a user sees.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.engine.observe import thread_state
from threadloom.starter.api import Threadloom
from threadloom.starter.conversations import close
from threadloom.starter.errors import ConversationNotFound, TemporalUnavailable, TurnCancelled
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.conversation_contracts import (
    MAX_REMEMBERED_BYTES,
    ConversationInput,
    ConversationLimits,
    conversation_workflow_id,
)

pytestmark = pytest.mark.usefixtures("engine_worker")


def conversation() -> str:
    return f"end-{uuid.uuid4().hex[:10]}"


async def wait_for_runs(threads: ThreadsClient, thread_id: str, count: int) -> None:
    for _ in range(300):
        if len((await thread_state(threads, thread_id)).runs) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"thread {thread_id} never had {count} run(s)")


async def test_cancelling_a_conversation_ends_it_and_every_accepted_turn(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    """Cancel while a turn's run stalls and another turn waits: both senders get `TurnCancelled`,
    the run is cancelled, the conversation ends cancelled and serves nothing more."""
    cid = conversation()
    stall = {"metadata": {"fault": "stall"}}
    running = asyncio.create_task(
        loom.send(cid, "stalls", assistant_id=assistant_id, thread_id=thread_id, **stall)
    )
    await wait_for_runs(threads, thread_id, 1)
    queued = asyncio.create_task(
        loom.send(cid, "waits its turn", assistant_id=assistant_id, thread_id=thread_id)
    )
    handle = loom.client.get_workflow_handle(conversation_workflow_id(cid))
    for _ in range(200):  # the second turn is accepted (queued) before the cancel
        if (await handle.query("status")).get("queued") == 1:
            break
        await asyncio.sleep(0.05)

    await handle.cancel()

    for task in (running, queued):
        with pytest.raises(TurnCancelled):
            await asyncio.wait_for(task, 30)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.CANCELED
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["cancelled"]
    assert [m.role for m in state.messages] == ["user"]  # the queued turn never wrote


async def test_closing_an_ended_conversation_is_conversation_not_found(
    loom: Threadloom, assistant_id: str
) -> None:
    cid = conversation()
    await loom.send(cid, "hello", assistant_id=assistant_id)
    await close(loom, cid, "done")
    await loom.client.get_workflow_handle(conversation_workflow_id(cid)).result()

    with pytest.raises(ConversationNotFound) as caught:
        await close(loom, cid, "again")
    assert not caught.value.resend_safe


async def test_large_replies_cross_continue_as_new_within_the_payload_limit(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    """Replies of ~200 KB (each result holds its text twice): the records carried across each
    continue-as-new stay under `MAX_REMEMBERED_BYTES`, far below Temporal's 2 MB payload limit."""
    cid = conversation()
    limits = ConversationLimits(max_turns_per_run=3)
    texts = [f"turn {n} " + "x" * 200_000 for n in range(10)]
    for text in texts:
        result = await asyncio.wait_for(
            loom.send(cid, text, assistant_id=assistant_id, thread_id=thread_id, limits=limits), 30
        )
        assert result.reply == f"Echo: {text}"

    workflow_id = conversation_workflow_id(cid)
    executions = [e async for e in loom.client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    assert len(executions) >= 4  # ten turns, three a run
    latest = loom.client.get_workflow_handle(workflow_id)
    history = await latest.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    carried = ConversationInput.model_validate_json(started.input.payloads[0].data)
    assert carried.turns_completed == 9  # runs of 3, 3, 3 and 1 turns
    assert 0 < len(carried.recent) < 9  # bounded by size, not the default count (64)
    assert len(started.input.payloads[0].data) <= MAX_REMEMBERED_BYTES + 10_000
    state = await thread_state(threads, thread_id)
    assert [m.role for m in state.messages] == ["user", "assistant"] * len(texts)


async def test_temporal_out_of_reach_is_temporal_unavailable() -> None:
    settings = Settings(temporal_address="127.0.0.1:1")  # nothing listens on port 1
    with pytest.raises(TemporalUnavailable) as caught:
        await asyncio.wait_for(Threadloom.connect(settings), 30)
    assert caught.value.resend_safe


async def test_a_resent_key_whose_turn_still_runs_waits_for_that_turn(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    """The turn workflow of a key is already running (started directly) when the conversation gets
    the same key: it waits for that turn in a heartbeating activity (not a 2-minute local activity)
    and answers with its result; nothing runs twice."""
    from tests.engine.test_turns import turn
    from threadloom.workflows.contracts import RunOverrides

    slow = RunOverrides(metadata={"fault": "delay=1500"})
    direct = await loom.start_turn(turn(thread_id, assistant_id, "started first", run=slow))
    key = direct.workflow_id.removeprefix(f"turn-{thread_id}-")
    cid = conversation()

    result = await asyncio.wait_for(
        loom.send(cid, "started first", assistant_id=assistant_id, thread_id=thread_id, turn_key=key),
        30,
    )

    assert result == await direct.result()
    state = await thread_state(threads, thread_id)
    assert [m.role for m in state.messages] == ["user", "assistant"] and len(state.runs) == 1
    history = await loom.client.get_workflow_handle(conversation_workflow_id(cid)).fetch_history()
    waited = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert [a.activity_type.name for a in waited] == ["turn_result"]
    assert waited[0].heartbeat_timeout.seconds > 0
