"""Conversations end to end: update-with-start, ordering, dedupe, continue-as-new, idle end, close.

Real worker, real Temporal dev server, real threads server over HTTP; assertions on what a user sees.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.engine.observe import thread_state
from threadloom.starter.api import Threadloom
from threadloom.starter.conversations import close
from threadloom.starter.errors import InvalidRequest
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import TurnResult, turn_workflow_id
from threadloom.workflows.conversation_contracts import ConversationLimits, conversation_workflow_id

pytestmark = pytest.mark.usefixtures("engine_worker")


def conversation() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def assert_in_order(results: list[TurnResult], texts: list[str]) -> None:
    """Each reply echoes its own message; the runs did not overlap."""
    for result, text in zip(results, texts, strict=True):
        assert result.reply == f"Echo: {text}"
    ordered = sorted(results, key=lambda r: r.timings.started_at)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.timings.finished_at <= later.timings.started_at


async def test_concurrent_sends_run_one_at_a_time_in_order(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str
) -> None:
    cid = conversation()
    texts = [f"message {n}" for n in range(20)]
    started = time.monotonic()
    results = await asyncio.gather(*(loom.send(cid, text, assistant_id=assistant_id) for text in texts))
    elapsed = time.monotonic() - started
    print(f"20 concurrent turns on one conversation: {elapsed:.2f}s, {20 / elapsed:.1f} turns/s")

    assert_in_order(results, texts)
    handle = loom.client.get_workflow_handle(conversation_workflow_id(cid))
    events = [e async for e in handle.fetch_history_events()]
    print(f"conversation history: {len(events)} events for 20 turns")
    state = await thread_state(threads, _thread_of(await handle.describe()))
    assert len(state.user_messages) == 20
    assert state.statuses == ["completed"] * 20
    # The thread holds user, assistant, user, assistant, ...: no turn overlapped another.
    roles = [m.role for m in state.messages]
    assert roles == ["user", "assistant"] * 20
    order = [m.content[0].text.value for m in state.user_messages]  # type: ignore[union-attr]
    by_start = [
        r.reply.removeprefix("Echo: ") for r in sorted(results, key=lambda r: r.timings.started_at)
    ]
    assert order == by_start


def _thread_of(description: object) -> str:
    from threadloom.workflows.contracts import THREAD_ID

    value = description.typed_search_attributes.get(THREAD_ID)  # type: ignore[attr-defined]
    assert value
    return str(value)


async def test_resend_with_the_same_key_returns_the_same_result(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    cid = conversation()
    first = await loom.send(
        cid, "once only", assistant_id=assistant_id, thread_id=thread_id, turn_key="k1"
    )
    again = await asyncio.gather(
        *(loom.send(cid, "once only", assistant_id=assistant_id, turn_key="k1") for _ in range(3))
    )
    assert all(result == first for result in again)
    state = await thread_state(threads, thread_id)
    assert len(state.user_messages) == 1
    assert state.statuses == ["completed"]


async def test_bad_turns_are_rejected_before_history(
    loom: Threadloom, assistant_id: str, thread_id: str
) -> None:
    cid = conversation()
    with pytest.raises(InvalidRequest):
        await loom.send(cid, "   ", assistant_id=assistant_id, thread_id=thread_id)
    with pytest.raises(InvalidRequest):
        await loom.send(cid, "hi", assistant_id=assistant_id, thread_id=thread_id, temperature=5)
    await loom.send(cid, "fine", assistant_id=assistant_id, thread_id=thread_id)
    # A raw update that skips the starter's checks is rejected by the validator: not in history.
    handle = loom.client.get_workflow_handle(conversation_workflow_id(cid))
    with pytest.raises(Exception, match="update"):
        await handle.execute_update(
            "send_turn", {"turn_key": "raw", "message": {"text": "x" * 300_000}}, id="raw"
        )
    with pytest.raises(Exception, match="update"):
        await handle.execute_update(
            "send_turn", {"turn_key": "other", "message": {"text": "hi"}}, id="mismatch"
        )
    events = [e async for e in handle.fetch_history_events()]
    accepted = [e for e in events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 1


async def test_continue_as_new_keeps_order_dedupe_and_pending_turns(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    cid = conversation()
    limits = ConversationLimits(max_turns_per_run=3, remembered_turns=2)
    texts = [f"turn {n}" for n in range(8)]
    keys = [f"key{n}" for n in range(8)]
    results = await asyncio.gather(
        *(
            loom.send(
                cid, text, assistant_id=assistant_id, thread_id=thread_id, turn_key=key, limits=limits
            )
            for text, key in zip(texts, keys, strict=True)
        )
    )
    assert_in_order(results, texts)
    # Resends after continue-as-new: the carried records (last 2) and, further back, the turn
    # workflows themselves give the same answers.
    again = await asyncio.gather(
        *(
            loom.send(cid, text, assistant_id=assistant_id, turn_key=key)
            for text, key in zip(texts, keys, strict=True)
        )
    )
    assert again == results
    state = await thread_state(threads, thread_id)
    assert len(state.user_messages) == 8
    assert state.statuses == ["completed"] * 8
    runs = [
        execution.run_id
        async for execution in loom.client.list_workflows(
            f'WorkflowId = "{conversation_workflow_id(cid)}"'
        )
    ]
    assert len(runs) >= 3  # continued as new at least twice


async def test_idle_end_and_close_restart_on_the_same_thread(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str
) -> None:
    cid = conversation()
    limits = ConversationLimits(idle_timeout_seconds=1)
    first = await loom.send(cid, "before the pause", assistant_id=assistant_id, limits=limits)
    handle = loom.client.get_workflow_handle(conversation_workflow_id(cid))
    for _ in range(100):
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.1)
    summary = await handle.result()
    assert summary["ended"] == "idle" if isinstance(summary, dict) else summary.ended == "idle"
    second = await loom.send(cid, "after the pause", assistant_id=assistant_id)
    status = await close(loom, cid, "done")
    assert status.closing
    state_thread = status.thread_id
    assert state_thread is not None
    state = await thread_state(threads, state_thread)
    assert [m.role for m in state.messages] == ["user", "assistant"] * 2
    assert first.user_message_id == state.user_messages[0].id
    assert second.user_message_id == state.user_messages[1].id


async def test_a_turn_sent_while_a_due_run_drains_a_slow_turn_waits_for_the_next_run(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    cid = conversation()
    limits = ConversationLimits(max_turns_per_run=1)  # due to continue as new after one turn

    def send(text: str, delay_ms: int) -> asyncio.Task[TurnResult]:
        return asyncio.create_task(
            loom.send(
                cid,
                text,
                assistant_id=assistant_id,
                thread_id=thread_id,
                limits=limits,
                metadata={"fault": f"delay={delay_ms}"},
            )
        )

    first = send("first", 1500)
    await asyncio.sleep(0.5)
    slow = send("slow", 11_000)  # accepted while the first runs: the due run drains it
    first_result = await first
    # Turned away for the ~11 s the slow turn takes, then accepted by the next run.
    last_result = await asyncio.wait_for(send("last", 0), 60)
    slow_result = await slow

    assert [r.reply for r in (first_result, slow_result, last_result)] == [
        "Echo: first",
        "Echo: slow",
        "Echo: last",
    ]
    state = await thread_state(threads, thread_id)
    texts = [m.content[0].text.value for m in state.user_messages]  # type: ignore[union-attr]
    assert texts == ["first", "slow", "last"]
    assert state.statuses == ["completed"] * 3


@pytest.mark.parametrize("accepted", [False, True], ids=["before-accepted", "while-running"])
async def test_a_cancelled_send_is_a_quiet_cancellation(
    loom: Threadloom, assistant_id: str, accepted: bool
) -> None:
    """A caller that gives up on a send (`asyncio.timeout`, a task group) gets its cancellation back,
    not a TurnOutcomeUnknown, and asyncio reports no "exception was never retrieved" afterwards (the
    SDK keeps a start that never answered in a future of its own; printed past structlog when
    collected). Before the turn is accepted: no worker polls the conversation's queue."""
    reported: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: reported.append(str(context.get("message"))))
    sender = loom if accepted else Threadloom(loom.client, task_queue=f"nobody-{uuid.uuid4().hex}")
    cid = conversation()
    try:
        with pytest.raises(TimeoutError):  # what asyncio.timeout makes of the cancellation
            async with asyncio.timeout(1.0):
                await sender.send(
                    cid, "never mind", assistant_id=assistant_id, metadata={"fault": "delay=3000"}
                )
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert reported == []
    if accepted:  # the turn was taken all the same: the conversation goes on after it
        result = await loom.send(cid, "and now?", assistant_id=assistant_id)
        assert result.reply == "Echo: and now?"


async def test_a_conversations_turns_get_the_turn_task_timeout_and_it_keeps_its_own(
    loom: Threadloom, assistant_id: str
) -> None:
    """A turn's short task timeout bounds how long a worker lost mid-task holds it up; the
    conversation keeps a longer one, since a worker without it cached replays its whole history."""
    cid = conversation()
    result = await loom.send(cid, "timeouts", assistant_id=assistant_id, turn_key="k-timeouts")
    assert result.reply == "Echo: timeouts"
    conv = await loom.client.get_workflow_handle(conversation_workflow_id(cid)).describe()
    turn_id = turn_workflow_id(_thread_of(conv), "k-timeouts")
    child = await loom.client.get_workflow_handle(turn_id).describe()

    def task_timeout(description: object) -> float:
        config = description.raw_description.execution_config  # type: ignore[attr-defined]
        return float(config.default_workflow_task_timeout.ToTimedelta().total_seconds())

    assert task_timeout(conv) == loom.conversation_task_timeout.total_seconds() == 10
    assert task_timeout(child) == loom.task_timeout.total_seconds() == 3
