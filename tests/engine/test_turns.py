"""Turns end to end: real worker, real Temporal dev server, real threads server over HTTP.

Each test looks at what a user sees: the reply, the messages and runs on the thread, the error type.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.engine.observe import thread_state, wait_for_phase
from threadloom.activities.threads import ThreadsActivities
from threadloom.starter.api import Threadloom
from threadloom.starter.errors import (
    AssistantNotFound,
    InvalidRequest,
    RunFailed,
    RunTimedOut,
    ThreadNotFound,
    TurnCancelled,
)
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import (
    PollSettings,
    RunOverrides,
    TurnPolicy,
    TurnRequest,
    UserMessage,
)

pytestmark = pytest.mark.usefixtures("engine_worker")

FAST_POLICY = TurnPolicy(
    run_deadline_seconds=1.5,
    max_run_attempts=2,
    heartbeat_timeout_seconds=2,
    poll=PollSettings(long_poll_wait_ms=500),
)


def turn(thread_id: str, assistant_id: str, text: str = "hello", **fields: Any) -> TurnRequest:
    fields.setdefault("turn_key", uuid.uuid4().hex)  # so the test knows the workflow id
    return TurnRequest(
        thread_id=thread_id, assistant_id=assistant_id, message=UserMessage(text=text), **fields
    )


async def test_happy_path(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    result = await loom.run_turn(turn(thread_id, assistant_id, "What is a durable turn?"))

    assert result.reply == "Echo: What is a durable turn?"
    assert result.status == "completed"
    state = await thread_state(threads, thread_id)
    assert [m.role for m in state.messages] == ["user", "assistant"]
    assert state.statuses == ["completed"]
    assert state.messages[0].id == result.user_message_id
    assert state.messages[1].id in result.reply_message_ids
    assert state.runs[0].id == result.run_id
    assert [a.outcome for a in result.attempts] == ["completed"]


@pytest.mark.parametrize("dedupe", ["keys", "scans"])
@pytest.mark.parametrize("path", ["/v1/threads/*/runs"])  # the one write: the message goes with it
async def test_retried_writes_are_not_duplicated(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
    path: str,
    dedupe: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if dedupe == "scans":  # as against a server that does not honour Idempotency-Key
        monkeypatch.setattr(ThreadsActivities, "_keys_suffice", lambda self, not_before: False)
    for action in ("500", "429", "drop", "drop_after_commit", "500_after_commit"):
        fault = {"method": "POST", "path": path, "action": action, "times": 1, "retry_after": 1}
        (await control.post("/_threadloom/faults", json=fault)).raise_for_status()

    result = await loom.run_turn(turn(thread_id, assistant_id, "once only"))

    assert result.reply == "Echo: once only"
    state = await thread_state(threads, thread_id)
    assert [m.role for m in state.messages] == ["user", "assistant"]
    assert state.statuses == ["completed"]
    left = (await control.get("/_threadloom/faults")).json()["faults"]
    # With keys every retry posts again and gets the first write back; a scan finds the write
    # committed before the dropped answer and posts no more, leaving the last fault unused.
    assert [f["action"] for f in left] == ([] if dedupe == "keys" else ["500_after_commit"])


async def test_stalled_run_is_cancelled_and_rerun(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    stall_once = RunOverrides(metadata={"fault": "stall", "fault_times": "1"})
    result = await loom.run_turn(
        turn(thread_id, assistant_id, "stalls once", run=stall_once, policy=FAST_POLICY)
    )

    assert result.reply == "Echo: stalls once"
    assert [a.outcome for a in result.attempts] == ["timed_out", "completed"]
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["cancelled", "completed"]
    assert len(state.user_messages) == 1


async def test_always_stalling_run_times_out_and_leaves_no_active_run(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    stall = RunOverrides(metadata={"fault": "stall"})
    with pytest.raises(RunTimedOut) as caught:
        await loom.run_turn(turn(thread_id, assistant_id, run=stall, policy=FAST_POLICY))

    state = await thread_state(threads, thread_id)
    assert state.statuses == ["cancelled", "cancelled"]
    assert caught.value.details["run_id"] == state.runs[-1].id
    assert len(state.user_messages) == 1


async def test_server_error_is_retried_with_a_new_run(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    fail_once = RunOverrides(metadata={"fault": "fail=server_error", "fault_times": "1"})
    result = await loom.run_turn(
        turn(thread_id, assistant_id, "flaky", run=fail_once, policy=FAST_POLICY)
    )

    assert result.reply == "Echo: flaky"
    assert [(a.outcome, a.error_code) for a in result.attempts] == [
        ("failed", "server_error"),
        ("completed", None),
    ]
    assert (await thread_state(threads, thread_id)).statuses == ["failed", "completed"]


async def test_invalid_prompt_is_not_retried(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    invalid = RunOverrides(metadata={"fault": "fail=invalid_prompt"})
    with pytest.raises(RunFailed, match="invalid_prompt"):
        await loom.run_turn(turn(thread_id, assistant_id, run=invalid, policy=FAST_POLICY))

    assert (await thread_state(threads, thread_id)).statuses == ["failed"]


async def test_cancelling_the_turn_cancels_the_run(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    stall = RunOverrides(metadata={"fault": "stall"})
    handle = await loom.start_turn(turn(thread_id, assistant_id, run=stall))
    await wait_for_phase(handle, "waiting")

    await handle.cancel()
    with pytest.raises(TurnCancelled):
        await handle.result()

    assert (await thread_state(threads, thread_id)).statuses == ["cancelled"]


@pytest.mark.parametrize("problem", ["empty message", "unknown thread", "unknown assistant"])
async def test_bad_input_fails_at_once_and_writes_nothing(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    problem: str,
) -> None:
    request: dict[str, Any] = {
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "message": {"text": "hello"},
    }
    expected: type[Exception] = InvalidRequest
    if problem == "empty message":
        request["message"] = {"text": "   "}
    elif problem == "unknown thread":
        request["thread_id"], expected = "thread_doesnotexist", ThreadNotFound
    else:
        request["assistant_id"], expected = "asst_doesnotexist", AssistantNotFound

    started = time.monotonic()
    with pytest.raises(expected):
        await loom.run_turn(request)

    assert time.monotonic() - started < 2.0  # no retries burned
    state = await thread_state(threads, thread_id)
    assert state.messages == [] and state.runs == []


async def test_starting_the_same_turn_twice_runs_it_once(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    request = turn(thread_id, assistant_id, "only once", turn_key="same-key")
    first, second = await asyncio.gather(loom.start_turn(request), loom.start_turn(request))
    results = [await first.result(), await second.result()]
    again = await loom.run_turn(request)  # after it completed, too

    assert results[0] == results[1] == again
    state = await thread_state(threads, thread_id)
    assert len(state.user_messages) == 1
    assert len(state.runs) == 1
