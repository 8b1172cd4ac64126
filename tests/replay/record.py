"""Record the histories in `tests/histories/`: `python -m tests.replay.record`.

Starts a throwaway Temporal dev server and threads server (free ports, temporary files), runs one
workflow per path the engine can take on the real worker, and writes each run's history as
`tests/histories/<scenario>.json` (continue-as-new runs get `-run<N>`). Run it after a change that
adds a path or deliberately changes histories (with `workflow.patched`, keeping the old files).
The files are scrubbed of this machine's paths before they are written. To record a commit rather
than a working tree with unfinished changes, run it from a copy (`git archive HEAD | tar -x -C DIR`,
then `cd DIR && /path/to/.venv/bin/python -m tests.replay.record NAME …`) and copy the new files back.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.engine.plain_server import PlainServer
from threadloom.activities.tools import ToolRegistry
from threadloom.starter.api import Threadloom
from threadloom.starter.demo_tools import get_weather
from threadloom.starter.errors import TurnError
from threadloom.starter.history import history_json
from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import (
    SEARCH_ATTRIBUTES,
    RunOverrides,
    TurnPolicy,
    TurnRequest,
    UserMessage,
)

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
TASK_QUEUE = "histories"
IDENTITY = "threadloom-recorder"

registry = ToolRegistry()
"""The recorder's tools: the demo's `get_weather` and two that always fail (one per `on_error`)."""
registry.register(get_weather)


@registry.tool(retries=1, retry_interval=0.05)
def check_stock(item: str) -> str:
    """Check whether an item is in stock (its backend is down: the error becomes the output)."""
    raise ConnectionError(f"the stock service is down (asked for {item})")


@registry.tool(retries=1, retry_interval=0.05, on_error="fail")
def charge_card(amount: int) -> str:
    """Charge the customer's card (the gateway is unreachable: the turn fails `ToolFailed`)."""
    raise RuntimeError(f"the payment gateway is unreachable (charging {amount})")


@registry.tool(timeout=30, heartbeat=1.0)
async def look_up_order(order: str) -> str:
    """Look an order up (slowly: a failing sibling call cancels it first)."""
    await asyncio.sleep(5)
    return f"order {order}: shipped"


@dataclass
class Recording:
    """What a scenario gets: the starter API, the Threads API and an echo assistant.

    `plain` starts turns on a second worker whose client sees the threads server without any of
    threadloom's extensions (`tests.engine.plain_server`), as it would see another Threads API.
    """

    loom: Threadloom
    threads: ThreadsClient
    assistant_id: str
    server_root: str
    plain: Threadloom

    async def add_fault(self, **fault: object) -> None:
        """Queue an HTTP fault on the threads server (`POST /_threadloom/faults`)."""
        async with httpx.AsyncClient(base_url=self.server_root) as control:
            (await control.post("/_threadloom/faults", json=fault)).raise_for_status()

    async def request(self, text: str, **fields: object) -> TurnRequest:
        """A turn on a new thread with a fixed-looking key (ids stay readable in the files)."""
        thread = await self.threads.threads.create()
        return TurnRequest.model_validate(
            {
                "thread_id": thread.id,
                "assistant_id": self.assistant_id,
                "message": UserMessage(text=text),
                "turn_key": uuid.uuid4().hex[:12],
                **fields,
            }
        )


Scenario = Callable[[Recording], Awaitable[str | list[str]]]
"""Runs a workflow to its end and returns its id (or ids: the main one first, then its children)."""


async def happy_turn(rec: Recording) -> str:
    request = await rec.request("Hello! Can you hear me?")
    await rec.loom.run_turn(request)
    return request.workflow_id


async def waited_turn(rec: Recording) -> str:
    """A run that outlasts the read right after its creation: the wait's last read has the reply."""
    request = await rec.request(
        "Take a moment before you answer.", run=RunOverrides(metadata={"fault": "delay=1500"})
    )
    await rec.loom.run_turn(request)
    return request.workflow_id


async def plain_server_turn(rec: Recording) -> str:
    """A turn against a server without threadloom's extensions: scans, polls, a fetched reply."""
    request = await rec.request("Is anyone there?", run=RunOverrides(metadata={"fault": "delay=300"}))
    result = await rec.plain.run_turn(request)
    assert result.reply == "Echo: Is anyone there?", result.reply
    assert result.user_message_id.startswith("msg_"), result
    return request.workflow_id


async def stalled_and_rerun(rec: Recording) -> str:
    request = await rec.request(
        "Tell me again what happens when a run gets stuck.",
        run=RunOverrides(metadata={"fault": "stall", "fault_times": "1"}),
        policy=TurnPolicy(run_deadline_seconds=1.5),
    )
    result = await rec.loom.run_turn(request)
    assert [a.outcome for a in result.attempts] == ["timed_out", "completed"], result.attempts
    return request.workflow_id


async def failed_invalid_prompt(rec: Recording) -> str:
    request = await rec.request(
        "This prompt is rejected.", run=RunOverrides(metadata={"fault": "fail=invalid_prompt"})
    )
    try:
        await rec.loom.run_turn(request)
    except TurnError as error:
        assert type(error).__name__ == "RunFailed", error
    else:
        raise AssertionError("the invalid_prompt turn did not fail")
    return request.workflow_id


async def cancelled(rec: Recording) -> str:
    request = await rec.request("Cancel me while I wait.", run=RunOverrides(metadata={"fault": "stall"}))
    handle = await rec.loom.start_turn(request)
    for _ in range(200):
        if (await handle.progress()).phase == "waiting":
            break
        await asyncio.sleep(0.05)
    await handle.cancel()
    try:
        await handle.result()
    except TurnError as error:
        assert type(error).__name__ == "TurnCancelled", error
    return request.workflow_id


async def tool_call(rec: Recording) -> str:
    request = await rec.request(
        'What is the weather?\n/tool get_weather {"city": "Lisbon"}', tools=["get_weather"]
    )
    result = await rec.loom.run_turn(request)
    assert "[get_weather] Lisbon: sunny" in result.reply, result.reply
    return request.workflow_id


async def tool_rounds(rec: Recording) -> str:
    lines = [
        "Compare two cities, then a third.",
        '/tool get_weather {"city": "Oslo"}',
        '/tool get_weather {"city": "London", "unit": "fahrenheit"}',
        "/then",
        '/tool get_weather {"city": "Lisbon"}',
    ]
    request = await rec.request("\n".join(lines), tools=["get_weather"])
    result = await rec.loom.run_turn(request)
    assert result.reply.count("[get_weather]") == 3, result.reply
    return request.workflow_id


async def tool_broken(rec: Recording) -> str:
    """A tool that keeps raising (`on_error="submit"`): its error is the call's output; the turn ends."""
    lines = [
        "Is the blue umbrella in stock, and will I need it?",
        '/tool check_stock {"item": "blue umbrella"}',
        '/tool get_weather {"city": "London"}',
    ]
    request = await rec.request("\n".join(lines), tools=["check_stock", "get_weather"])
    result = await rec.loom.run_turn(request)
    assert "[check_stock] error: ConnectionError: the stock service is down" in result.reply, result
    assert "[get_weather] London: light rain" in result.reply, result.reply
    assert [a.outcome for a in result.attempts] == ["completed"], result.attempts
    return request.workflow_id


async def tool_failed(rec: Recording) -> str:
    """A tool with `on_error="fail"` that keeps raising: the run is cancelled, the turn fails."""
    lines = [
        "Pay for my order.",
        '/tool charge_card {"amount": 42}',
        '/tool get_weather {"city": "Oslo"}',
    ]
    request = await rec.request("\n".join(lines), tools=["charge_card", "get_weather"])
    try:
        await rec.loom.run_turn(request)
    except TurnError as error:
        assert type(error).__name__ == "ToolFailed", error
        assert "the payment gateway is unreachable" in str(error), error
    else:
        raise AssertionError("the charge_card turn did not fail")
    runs = [run async for run in rec.threads.threads.runs.list(request.thread_id)]
    assert [run.status for run in runs] == ["cancelled"], runs
    return request.workflow_id


async def conversation_turn_failed(rec: Recording) -> list[str]:
    """A conversation whose first turn fails (two runs end `server_error`); the next turn works."""
    from threadloom.starter.conversations import close
    from threadloom.workflows.conversation_contracts import conversation_workflow_id

    conversation_id = f"rec_{uuid.uuid4().hex[:8]}"
    failing_key = f"{conversation_id}-1"
    for _ in range(2):  # the resend of the failed key gets the same failure, and runs nothing
        try:
            await rec.loom.send(
                conversation_id,
                "This turn's runs fail on the server.",
                assistant_id=rec.assistant_id,
                turn_key=failing_key,
                metadata={"fault": "fail=server_error"},
                policy=TurnPolicy(max_run_attempts=2),
            )
        except TurnError as error:
            assert type(error).__name__ == "RunFailed", error
            assert "server_error" in str(error) and "(after 2 runs)" in str(error), error
        else:
            raise AssertionError("the server_error turn did not fail")
    result = await rec.loom.send(
        conversation_id,
        "Is the conversation still there?",
        assistant_id=rec.assistant_id,
        turn_key=f"{conversation_id}-2",
    )
    assert result.reply == "Echo: Is the conversation still there?", result.reply
    await close(rec.loom, conversation_id, "recorded")
    handle = rec.loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))
    await handle.result()
    query = f'ConversationId="{conversation_id}" AND WorkflowType="TurnWorkflow"'
    turns = [e async for e in rec.loom.client.list_workflows(query)]
    assert len(turns) == 2, turns
    failed_turn = min(turns, key=lambda e: e.start_time)
    return [handle.id, failed_turn.id]


async def conversation(rec: Recording) -> list[str]:
    """Three turns with two per run: the first run continues as new; then the conversation closes."""
    from threadloom.starter.conversations import close
    from threadloom.workflows.conversation_contracts import ConversationLimits, conversation_workflow_id

    conversation_id = f"rec_{uuid.uuid4().hex[:8]}"
    limits = ConversationLimits(max_turns_per_run=2)
    texts = ["My name is Ada.", "I am planning a trip to Lisbon.", "What did I tell you?"]
    for number, text in enumerate(texts, start=1):
        await rec.loom.send(
            conversation_id,
            text,
            assistant_id=rec.assistant_id,
            turn_key=f"{conversation_id}-{number}",
            limits=limits,
        )
    await close(rec.loom, conversation_id, "recorded")
    handle = rec.loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))
    await handle.result()
    query = f'ConversationId="{conversation_id}" AND WorkflowType="TurnWorkflow"'
    turns = [e async for e in rec.loom.client.list_workflows(query)]
    first_turn = min(turns, key=lambda e: e.start_time)  # a child of the conversation
    return [handle.id, first_turn.id]


async def thread_busy_waited(rec: Recording) -> str:
    """Another client's run holds the thread for 1.5 s: the turn waits for it, then runs."""
    request = await rec.request("Wait for the run before me.")
    await rec.threads.threads.runs.create(
        request.thread_id, assistant_id=rec.assistant_id, metadata={"fault": "delay=1500"}
    )
    result = await rec.loom.run_turn(request)
    assert result.reply == "Echo: Wait for the run before me.", result.reply
    return request.workflow_id


async def thread_busy(rec: Recording) -> str:
    """Another client's run holds the thread past the turn's 1 s budget: `ThreadBusy`."""
    request = await rec.request("The thread stays busy.", policy=TurnPolicy(thread_busy_wait_seconds=1))
    foreign = await rec.threads.threads.runs.create(
        request.thread_id, assistant_id=rec.assistant_id, metadata={"fault": "stall"}
    )
    try:
        await rec.loom.run_turn(request)
    except TurnError as error:
        assert type(error).__name__ == "ThreadBusy", error
    else:
        raise AssertionError("the busy thread did not fail the turn")
    finally:
        await rec.threads.threads.runs.cancel(request.thread_id, foreign.id)
    return request.workflow_id


async def tool_failed_siblings_cancelled(rec: Recording) -> str:
    """A failing `fail` tool beside a slow one: the slow call is cancelled, the turn fails at once."""
    lines = [
        "Pay, and look my order up.",
        '/tool charge_card {"amount": 7}',
        '/tool look_up_order {"order": "A1"}',
    ]
    request = await rec.request("\n".join(lines), tools=["charge_card", "look_up_order"])
    try:
        await rec.loom.run_turn(request)
    except TurnError as error:
        assert type(error).__name__ == "ToolFailed", error
    else:
        raise AssertionError("the charge_card turn did not fail")
    return request.workflow_id


async def run_completed_while_cancelling(rec: Recording) -> str:
    """The run ends after its deadline while cancelling it fails: the turn keeps that run's reply."""
    await rec.add_fault(method="POST", path="/v1/threads/*/runs/*/cancel", action="500", times=4)
    request = await rec.request(
        "Finish just after the deadline.",
        run=RunOverrides(metadata={"fault": "delay=3000", "fault_times": "1"}),
        policy=TurnPolicy(run_deadline_seconds=1.5),
    )
    result = await rec.loom.run_turn(request)
    assert [a.outcome for a in result.attempts] == ["completed"], result.attempts
    return request.workflow_id


async def conversation_cancelled(rec: Recording) -> list[str]:
    """A conversation cancelled while its turn's run stalls: the turn and the conversation end."""
    from threadloom.workflows.conversation_contracts import conversation_workflow_id

    conversation_id = f"rec_{uuid.uuid4().hex[:8]}"
    thread = await rec.threads.threads.create()
    send = asyncio.create_task(
        rec.loom.send(
            conversation_id,
            "This run stalls until the conversation is cancelled.",
            assistant_id=rec.assistant_id,
            thread_id=thread.id,
            turn_key=f"{conversation_id}-1",
            metadata={"fault": "stall"},
        )
    )
    for _ in range(200):
        if [run async for run in rec.threads.threads.runs.list(thread.id)]:
            break
        await asyncio.sleep(0.05)
    handle = rec.loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))
    await handle.cancel()
    try:
        await send
    except TurnError as error:
        assert type(error).__name__ == "TurnCancelled", error
    else:
        raise AssertionError("the cancelled conversation's turn did not fail")
    turn = f"turn-{thread.id}-{conversation_id}-1"
    return [handle.id, turn]


async def conversation_resent_running_turn(rec: Recording) -> list[str]:
    """A conversation sent a turn key whose turn workflow (started directly) still runs: it waits
    for that turn in an activity and answers with its result."""
    from threadloom.starter.conversations import close
    from threadloom.workflows.conversation_contracts import conversation_workflow_id

    conversation_id = f"rec_{uuid.uuid4().hex[:8]}"
    request = await rec.request(
        "Started before the conversation knew of me.",
        run=RunOverrides(metadata={"fault": "delay=1500"}),
    )
    direct = await rec.loom.start_turn(request)
    result = await rec.loom.send(
        conversation_id,
        request.message.text,
        assistant_id=rec.assistant_id,
        thread_id=request.thread_id,
        turn_key=request.key,
    )
    assert result == await direct.result(), result
    await close(rec.loom, conversation_id, "recorded")
    handle = rec.loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))
    await handle.result()
    return handle.id


async def rate_limited_and_waited(rec: Recording) -> str:
    """A run fails `rate_limit_exceeded` with `Retry-After: 1`: a 1 s timer, then a new run."""
    fault = {"fault": "fail=rate_limit_exceeded", "fault_times": "1", "fault_retry_after": "1"}
    request = await rec.request("The model is busy at first.", run=RunOverrides(metadata=fault))
    result = await rec.loom.run_turn(request)
    assert [a.outcome for a in result.attempts] == ["failed", "completed"], result.attempts
    return request.workflow_id


async def rate_limited_backed_off(rec: Recording) -> str:
    """Two runs rate-limited without `Retry-After`, one run allowed: the backoff, then a reply."""
    fault = {"fault": "fail=rate_limit_exceeded", "fault_times": "2"}
    request = await rec.request(
        "The model is busy twice.",
        run=RunOverrides(metadata=fault),
        policy=TurnPolicy(max_run_attempts=1, rate_limit_backoff_seconds=0.5),
    )
    result = await rec.loom.run_turn(request)
    assert [a.outcome for a in result.attempts] == ["failed", "failed", "completed"], result.attempts
    return request.workflow_id


async def rate_limited_past_deadline(rec: Recording) -> str:
    """Every run rate-limited (`Retry-After: 1`), a 2.5 s turn deadline: `RunFailed` in time."""
    fault = {"fault": "fail=rate_limit_exceeded", "fault_retry_after": "1"}
    request = await rec.request(
        "The model stays busy.",
        run=RunOverrides(metadata=fault),
        policy=TurnPolicy(turn_deadline_seconds=2.5),
    )
    try:
        await rec.loom.run_turn(request)
    except TurnError as error:
        assert type(error).__name__ == "RunFailed", error
        assert "the turn's deadline passes" in str(error), error
    else:
        raise AssertionError("the always rate-limited turn did not fail")
    return request.workflow_id


async def janitor_pass(rec: Recording) -> str:
    """A thread used 2 s ago and a retention of 1 s: one janitor pass deletes it."""
    from threadloom.starter.janitor import run_once
    from threadloom.workflows.janitor_contracts import JanitorInput

    request = await rec.request("Old news.")
    await rec.loom.run_turn(request)
    await asyncio.sleep(2.1)  # the Threads API's timestamps are whole seconds
    result = await run_once(rec.loom.client, JanitorInput(retention_seconds=1, task_queue=TASK_QUEUE))
    assert result.counts.deleted >= 1 and result.counts.failed == 0, result
    query = f'WorkflowType = "JanitorWorkflow" AND TaskQueue = "{TASK_QUEUE}"'
    passes = [e async for e in rec.loom.client.list_workflows(query)]
    return max(passes, key=lambda e: e.start_time).id


async def encrypted_turn(rec: Recording) -> str:
    """A turn whose client and worker encrypt every payload with the test key `k1` (`keys.py`)."""
    from tests.replay.keys import recording_converter

    client = Client(
        rec.loom.client.service_client,
        namespace=rec.loom.client.namespace,
        data_converter=recording_converter(),
    )
    request = await rec.request("Keep this between us: the gate code is 2468.")
    async with build_worker(client, rec.threads, task_queue=f"{TASK_QUEUE}-encrypted"):
        result = await Threadloom(client, task_queue=f"{TASK_QUEUE}-encrypted").run_turn(request)
    assert result.reply == f"Echo: {request.message.text}", result.reply
    return request.workflow_id


SCENARIOS: dict[str, Scenario] = {
    "turn-happy": happy_turn,
    "turn-stalled-and-rerun": stalled_and_rerun,
    "turn-failed-invalid-prompt": failed_invalid_prompt,
    "turn-cancelled": cancelled,
    "turn-tool-call": tool_call,
    "turn-tool-rounds": tool_rounds,
    "conversation": conversation,
    "turn-tool-broken": tool_broken,
    "turn-tool-failed": tool_failed,
    "conversation-turn-failed": conversation_turn_failed,
    # Since `BUSY_THREAD_PATCH` (the `-v1` files were recorded before it and are kept as they are).
    "turn-thread-busy-waited": thread_busy_waited,
    "turn-thread-busy": thread_busy,
    # Since the engine-correctness patches (FAIL_FAST_PATCH, RUN_STATUS_PATCH, CANCEL_ENDS_PATCH,
    # EARLIER_TURN_PATCH): each a path whose commands changed.
    "turn-tool-failed-siblings-cancelled": tool_failed_siblings_cancelled,
    "turn-run-completed-while-cancelling": run_completed_while_cancelling,
    "conversation-cancelled": conversation_cancelled,
    "conversation-resent-running-turn": conversation_resent_running_turn,
    "turn-rate-limited-waited": rate_limited_and_waited,  # RATE_LIMIT_WAIT_PATCH (do not re-record)
    "janitor-pass": janitor_pass,
    # Since RATE_LIMIT_BACKOFF_PATCH (turn-rate-limited-waited was recorded before it, kept as is).
    "turn-rate-limited-backoff": rate_limited_backed_off,
    "turn-rate-limited-past-deadline": rate_limited_past_deadline,
    "turn-encrypted": encrypted_turn,  # payloads encrypted with the test ring of `keys.py`
    # Since MESSAGE_WITH_RUN_PATCH every turn posts its message with its first run: the files above
    # were recorded before it and are kept as they are (recording them again would record the new
    # path under the old names). Each of these is a path whose commands changed.
    "turn-quick-run": happy_turn,  # the run ends within the first read: no wait, no fetch
    "turn-waited-run": waited_turn,  # the wait activity's last read carries the reply
    "turn-plain-server": plain_server_turn,  # no extensions: scans, polls, the reply fetched
    "turn-stalled-and-rerun-with-run": stalled_and_rerun,
    "turn-cancelled-with-run": cancelled,
    "turn-tool-call-with-run": tool_call,  # the first read sees requires_action
    "turn-thread-busy-waited-with-run": thread_busy_waited,
    "turn-run-completed-while-cancelling-with-run": run_completed_while_cancelling,
    "turn-rate-limited-waited-with-run": rate_limited_and_waited,
    "conversation-with-run": conversation,
}


CHECKOUT = HISTORIES.parent.parent


def scrub(text: str) -> str:
    """Replace this machine's paths in stack traces: the checkout (and the working directory) by `.`,
    the virtualenv by `<venv>`, the Python installation by `<python>`, the home directory by `~`.

    In that order, so a virtualenv inside the checkout stays `./.venv` (and the checkout may be a copy
    of a commit, recorded with another checkout's virtualenv). The host name never gets in: the
    client's identity, which would carry it, is fixed (`IDENTITY`).
    """
    replacements = [
        (CHECKOUT, "."),
        (Path.cwd(), "."),
        (Path(sys.prefix), "<venv>"),
        (Path(sys.base_prefix), "<python>"),
        (Path.home(), "~"),
    ]
    for path, label in replacements:
        if str(path) not in ("", "/"):
            text = text.replace(str(path), label)
    return text


async def hear_the_server(client: ThreadsClient, assistant_id: str) -> None:
    """One read of a run, so the client knows what the server offers before the first scenario
    (as a worker that has served a turn does)."""
    thread = await client.threads.create()
    run = await client.threads.runs.create(thread.id, assistant_id=assistant_id)
    await client.threads.runs.retrieve_for_poll(thread.id, run.id)
    await client.threads.runs.poll(thread.id, run.id, timeout=30)


async def write_runs(client: Client, name: str, workflow_id: str) -> list[Path]:
    """Write every run of `workflow_id` (oldest first): `name.json`, or `name-run<N>.json`."""
    runs = [e async for e in client.list_workflows(f'WorkflowId="{workflow_id}"')]
    runs.sort(key=lambda e: e.start_time)
    paths = []
    for number, execution in enumerate(runs, start=1):
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        history = await handle.fetch_history()
        suffix = f"-run{number}" if len(runs) > 1 else ""
        path = HISTORIES / f"{name}{suffix}.json"
        path.write_text(scrub(history_json(history)), encoding="utf-8")
        paths.append(path)
    return paths


async def record(names: list[str]) -> None:
    """Run the scenarios `names` (all when empty) and write their histories."""
    from threadloom.threads_server.testing import running_server

    chosen = {n: s for n, s in SCENARIOS.items() if not names or n in names}
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_binary(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        identity=IDENTITY,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_server(Path(tmp), faults_enabled=True) as server:
                plain_transport = PlainServer()
                async with (
                    ThreadsClient(server.base_url, max_retries=0) as threads,
                    ThreadsClient(server.base_url, max_retries=0, transport=plain_transport) as plain,
                ):
                    assistant = await threads.assistants.create(model="echo", name="histories")
                    for client in (threads, plain):
                        await hear_the_server(client, assistant.id)
                    loom = Threadloom(env.client, task_queue=TASK_QUEUE)
                    plain_loom = Threadloom(env.client, task_queue=f"{TASK_QUEUE}-plain")
                    rec = Recording(loom, threads, assistant.id, server.root_url, plain_loom)
                    worker = build_worker(env.client, threads, task_queue=TASK_QUEUE, tools=registry)
                    plain_worker = build_worker(env.client, plain, task_queue=f"{TASK_QUEUE}-plain")
                    async with worker, plain_worker:
                        for name, scenario in chosen.items():
                            ids = await scenario(rec)
                            for number, workflow_id in enumerate([ids] if isinstance(ids, str) else ids):
                                file_name = f"{name}-child{number}" if number else name
                                for path in await write_runs(env.client, file_name, workflow_id):
                                    print(f"recorded {path.relative_to(HISTORIES.parent.parent)}")
    finally:
        await env.shutdown()


def main() -> None:
    """`python -m tests.replay.record [SCENARIO …]`."""
    asyncio.run(record(sys.argv[1:]))
    os._exit(0)  # skip interpreter teardown (see worker.exit_without_teardown)


if __name__ == "__main__":
    main()
