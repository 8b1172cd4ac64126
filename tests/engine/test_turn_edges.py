"""Turns at the edges: tool calls before tools exist, a thread locked by someone else, expired runs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.engine.observe import thread_state
from tests.engine.test_turns import FAST_POLICY, turn
from tests.inspection.test_turn_inspection import current_details
from threadloom.starter.api import Threadloom
from threadloom.starter.errors import AssistantNotFound, RunRequiresAction, ThreadBusy, TurnCancelled
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import PollSettings, RunOverrides, TurnPolicy

pytestmark = pytest.mark.usefixtures("engine_worker")

LOOKUP_TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


async def test_requires_action_fails_clearly_and_cancels_the_run(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    with pytest.raises(RunRequiresAction, match="requires action"):
        await loom.run_turn(
            turn(thread_id, assistant_id, "/tool lookup {}", run=RunOverrides(tools=[LOOKUP_TOOL]))
        )

    assert (await thread_state(threads, thread_id)).statuses == ["cancelled"]


async def test_a_foreign_run_that_ends_in_time_is_waited_for(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    await threads.threads.runs.create(
        thread_id, assistant_id=assistant_id, metadata={"fault": "delay=800"}
    )

    result = await loom.run_turn(turn(thread_id, assistant_id, "after you"))

    assert result.reply == "Echo: after you"
    assert (await thread_state(threads, thread_id)).statuses == ["completed", "completed"]


async def test_a_thread_locked_too_long_is_thread_busy(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    foreign = await threads.threads.runs.create(
        thread_id, assistant_id=assistant_id, metadata={"fault": "stall"}
    )
    try:
        with pytest.raises(ThreadBusy, match=foreign.id):
            await loom.run_turn(
                turn(thread_id, assistant_id, policy=TurnPolicy(thread_busy_wait_seconds=0.5))
            )
        state = await thread_state(threads, thread_id)
        assert state.messages == [] and [r.id for r in state.runs] == [foreign.id]
    finally:
        await threads.threads.runs.cancel(thread_id, foreign.id)


async def test_an_expired_run_is_replaced(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    expire_once = RunOverrides(metadata={"fault": "expire", "fault_times": "1"})
    result = await loom.run_turn(
        turn(thread_id, assistant_id, "again", run=expire_once, policy=FAST_POLICY)
    )

    assert result.reply == "Echo: again"
    assert [a.outcome for a in result.attempts] == ["expired", "completed"]
    assert (await thread_state(threads, thread_id)).statuses == ["expired", "completed"]


@pytest.mark.parametrize(("long_poll_wait_ms", "most_polls"), [(20_000, 2), (0, 6)])
async def test_waiting_uses_long_poll_or_adaptive_polling(
    loom: Threadloom,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
    long_poll_wait_ms: int,
    most_polls: int,
) -> None:
    slow = RunOverrides(metadata={"fault": "delay=1200"})
    policy = TurnPolicy(poll=PollSettings(long_poll_wait_ms=long_poll_wait_ms))
    await control.post("/_threadloom/stats/reset")

    result = await loom.run_turn(turn(thread_id, assistant_id, "slow", run=slow, policy=policy))

    assert result.reply == "Echo: slow"
    by_route = (await control.get("/_threadloom/stats")).json()["requests"]["by_route"]
    polls = by_route["GET /v1/threads/{thread_id}/runs/{run_id}"]
    # Long-poll: one read held through queued and in_progress (two on the worker's first turn,
    # before it knows the server offers it); polling: a few reads, backing off.
    assert 1 <= polls <= most_polls


async def test_a_turn_makes_two_requests_on_threadloom_s_server(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
) -> None:
    slow = RunOverrides(metadata={"fault": "delay=600"})
    # A first read long enough for the 600 ms run on a busy machine too.
    patient = TurnPolicy(poll=PollSettings(first_read_wait_ms=5000))
    await loom.run_turn(turn(thread_id, assistant_id, "first", run=slow))
    await control.post("/_threadloom/stats/reset")

    result = await loom.run_turn(turn(thread_id, assistant_id, "second", run=slow, policy=patient))

    assert result.reply == "Echo: second"
    by_route = (await control.get("/_threadloom/stats")).json()["requests"]["by_route"]
    # The worker knows by now that the server honours Idempotency-Key (no scans before writing),
    # offers long-poll (one held read, here right after the create) and sends the thread's newest
    # messages with the ended run (no list); the message went with the run.
    assert by_route == {
        "POST /v1/threads/{thread_id}/runs": 1,
        "GET /v1/threads/{thread_id}/runs/{run_id}": 1,
    }
    state = await thread_state(threads, thread_id)
    assert len(state.messages) == 4 and state.statuses == ["completed", "completed"]


async def test_a_deleted_assistant_leaves_no_stray_message(
    loom: Threadloom, threads: ThreadsClient, thread_id: str
) -> None:
    assistant = await threads.assistants.create(model="echo")
    await loom.run_turn(turn(thread_id, assistant.id, "before"))
    await threads.assistants.delete(assistant.id)

    # The message goes with the run, and the server refuses the run (and so the message) at once.
    for text in ("after", "later"):
        with pytest.raises(AssistantNotFound):
            await loom.run_turn(turn(thread_id, assistant.id, text))

    state = await thread_state(threads, thread_id)
    texts = [m.content[0].text.value for m in state.user_messages]  # type: ignore[union-attr]
    assert texts == ["before"]
    assert state.statuses == ["completed"]


async def test_a_turn_waiting_for_a_busy_thread_can_be_cancelled(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    foreign = await threads.threads.runs.create(
        thread_id, assistant_id=assistant_id, metadata={"fault": "stall"}
    )
    try:
        handle = await loom.start_turn(
            turn(thread_id, assistant_id, "never", policy=TurnPolicy(thread_busy_wait_seconds=120))
        )
        for _ in range(200):  # the UI shows why the turn waits
            details = await current_details(loom.client, handle.workflow_id)
            if "thread busy" in details:
                break
            await asyncio.sleep(0.05)
        assert details.startswith(f"creating run · thread busy with run {foreign.id}")

        await handle.cancel()
        with pytest.raises(TurnCancelled):
            await asyncio.wait_for(handle.result(), 30)  # not the 120 s budget
        state = await thread_state(threads, thread_id)
        assert state.messages == [] and [r.id for r in state.runs] == [foreign.id]
        assert state.statuses == ["in_progress"]  # someone else's run is left alone
    finally:
        await threads.threads.runs.cancel(thread_id, foreign.id)
