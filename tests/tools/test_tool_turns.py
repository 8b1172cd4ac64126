"""Tool turns end to end with the echo responder's `/tool` trigger: real worker, real HTTP.

Each call is its own activity; outputs reach the run; the reply lists them (`[NAME] output`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.tools.toolbox import CALLS, SIBLINGS, registry
from threadloom.starter.api import Threadloom
from threadloom.starter.errors import InvalidRequest, ToolFailed
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import RunOverrides, TurnRequest, UserMessage


@pytest.fixture
async def tool_worker(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, task_queue: str
) -> AsyncIterator[None]:
    async with build_worker(temporal_env.client, threads, task_queue=task_queue, tools=registry):
        yield


pytestmark = pytest.mark.usefixtures("tool_worker")


def tool_line(name: str, **arguments: Any) -> str:
    return f"/tool {name} {json.dumps(arguments)}"


def turn(thread_id: str, assistant_id: str, *lines: str, **fields: Any) -> TurnRequest:
    fields.setdefault("turn_key", uuid.uuid4().hex)  # so the test knows the workflow id
    return TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="\n".join(lines)),
        **fields,
    )


async def history_summaries(loom: Threadloom, workflow_id: str) -> tuple[int, list[str]]:
    handle = loom.client.get_workflow_handle(workflow_id)
    events = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.user_metadata.summary.data.decode()
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    return len(events), scheduled


async def test_one_call(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    request = turn(
        thread_id,
        assistant_id,
        "Weather?",
        tool_line("get_weather", city="Lisbon"),
        tools=["get_weather"],
    )
    result = await loom.run_turn(request)
    assert result.reply == "Echo: Weather?\n[get_weather] Lisbon: sunny, 24°C"
    events, scheduled = await history_summaries(loom, request.workflow_id)
    print(f"history events of a one-call tool turn: {events}")
    assert '"call tool get_weather"' in scheduled
    state = await thread_state(threads, thread_id)
    assert len(state.user_messages) == 1
    assert state.statuses == ["completed"]


async def test_parallel_calls_and_a_second_round(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    request = turn(
        thread_id,
        assistant_id,
        "Compute",
        tool_line("add", a=1, b=2),
        tool_line("lookup", key="abc"),
        "/then",
        tool_line("add", a=40, b=2),
        tools=["add", "lookup"],
    )
    result = await loom.run_turn(request)
    assert result.reply == ('Echo: Compute\n[add] 3\n[lookup] {"key": "abc", "value": "ABC"}\n[add] 42')
    events, scheduled = await history_summaries(loom, request.workflow_id)
    print(f"history events of a two-round, three-call tool turn: {events}")
    assert sorted(s for s in scheduled if "call tool" in s) == [
        '"call tool add"',
        '"call tool add"',
        '"call tool lookup"',
    ]
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["completed"]


async def test_a_flaky_tool_is_retried_and_a_broken_one_reports_its_error(
    loom: Threadloom, thread_id: str, assistant_id: str
) -> None:
    request = turn(
        thread_id,
        assistant_id,
        "Try",
        tool_line("flaky", key=thread_id),
        tool_line("broken", key=thread_id),
        tools=["flaky", "broken"],
    )
    result = await loom.run_turn(request)
    assert "[flaky] ok after 3 attempts" in result.reply
    assert "[broken] error: RuntimeError: the backend is down" in result.reply
    assert CALLS[f"broken:{thread_id}"] == 2  # first attempt + one retry


async def test_bad_arguments_are_not_retried_and_reported(
    loom: Threadloom, thread_id: str, assistant_id: str
) -> None:
    request = turn(thread_id, assistant_id, "Sum", tool_line("add", a="one", b=2), tools=["add"])
    result = await loom.run_turn(request)
    assert result.reply.startswith("Echo: Sum\n[add] error: bad arguments for add")


async def test_a_failing_fail_policy_tool_fails_the_turn_and_cancels_the_run(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    request = turn(
        thread_id,
        assistant_id,
        "Pay",
        tool_line("critical", key=thread_id),
        tool_line("add", a=1, b=1),
        tools=["critical", "add"],
    )
    with pytest.raises(ToolFailed, match="the ledger is unreachable"):
        await loom.run_turn(request)
    assert CALLS[f"critical:{thread_id}"] == 2
    state = await thread_state(threads, thread_id)
    assert state.statuses == ["cancelled"]  # never left waiting for outputs


async def test_a_failing_tool_fails_the_turn_at_once_and_cancels_its_siblings(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    """A `fail` tool's failure ends the round now: the 8 s sibling is cancelled, not waited for."""
    request = turn(
        thread_id,
        assistant_id,
        "Pay and wait",
        tool_line("slow_sibling", key=thread_id),
        tool_line("critical", key=thread_id),
        tools=["slow_sibling", "critical"],
    )
    with pytest.raises(ToolFailed, match="the ledger is unreachable"):
        await loom.run_turn(request)

    assert SIBLINGS[thread_id] != "finished"  # the turn did not wait for the sibling's 8 s
    assert (await thread_state(threads, thread_id)).statuses == ["cancelled"]
    history = await loom.client.get_workflow_handle(request.workflow_id).fetch_history()
    cancel_requested = [
        e for e in history.events if e.HasField("activity_task_cancel_requested_event_attributes")
    ]
    assert len(cancel_requested) == 1  # the sibling, asked to stop
    for _ in range(100):  # and it hears it at its next heartbeat
        if SIBLINGS[thread_id] == "cancelled":
            break
        await asyncio.sleep(0.05)
    assert SIBLINGS[thread_id] == "cancelled"


async def test_unknown_tool_gets_an_error_output(
    loom: Threadloom, thread_id: str, assistant_id: str
) -> None:
    foreign = {"type": "function", "function": {"name": "teleport", "parameters": {"type": "object"}}}
    request = turn(
        thread_id,
        assistant_id,
        "Go",
        tool_line("teleport", to="Mars"),
        tools=["add"],
        run=RunOverrides(tools=[foreign]),
    )
    result = await loom.run_turn(request)
    assert result.reply == "Echo: Go\n[teleport] error: unknown tool 'teleport'"


async def test_tools_not_registered_are_rejected_before_writing(
    loom: Threadloom, threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    request = turn(thread_id, assistant_id, "Hi", tools=["no_such_tool"])
    with pytest.raises(InvalidRequest, match="no_such_tool"):
        await loom.run_turn(request)
    assert (await thread_state(threads, thread_id)).messages == []


async def test_a_conversation_turn_with_tools(loom: Threadloom, assistant_id: str) -> None:
    result = await loom.send(
        f"tools-{assistant_id}-{uuid.uuid4().hex[:6]}",
        "\n".join(["Plan", tool_line("get_weather", city="Oslo", unit="fahrenheit")]),
        assistant_id=assistant_id,
        tools=["get_weather"],
    )
    assert result.reply == "Echo: Plan\n[get_weather] Oslo: snow, 27°F"
