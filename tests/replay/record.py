"""Record the histories in `tests/histories/`: `python -m tests.replay.record`.

Starts a throwaway Temporal dev server and threads server (free ports, temporary files), runs one
workflow per path the engine can take on the real worker, and writes each run's history as
`tests/histories/<scenario>.json` (continue-as-new runs get `-run<N>`). Run it after a change that
adds a path or deliberately changes histories (with `workflow.patched`, keeping the old files).
The files are scrubbed of this machine's paths before they are written.
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

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter.api import Threadloom
from starter.demo_tools import registry
from starter.errors import TurnError
from starter.history import history_json
from starter.temporal_binary import find_temporal_binary
from threads_client import ThreadsClient
from worker import build_worker
from workflows.contracts import SEARCH_ATTRIBUTES, RunOverrides, TurnPolicy, TurnRequest, UserMessage

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
TASK_QUEUE = "histories"
IDENTITY = "threadloom-recorder"


@dataclass
class Recording:
    """What a scenario gets: the starter API, the Threads API and an echo assistant."""

    loom: Threadloom
    threads: ThreadsClient
    assistant_id: str

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


async def conversation(rec: Recording) -> str:
    """Three turns with two per run: the first run continues as new; then the conversation closes."""
    from starter.conversations import close
    from workflows.conversation_contracts import ConversationLimits, conversation_workflow_id

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


SCENARIOS: dict[str, Scenario] = {
    "turn-happy": happy_turn,
    "turn-stalled-and-rerun": stalled_and_rerun,
    "turn-failed-invalid-prompt": failed_invalid_prompt,
    "turn-cancelled": cancelled,
    "turn-tool-call": tool_call,
    "turn-tool-rounds": tool_rounds,
    "conversation": conversation,
}


def scrub(text: str) -> str:
    """Replace this machine's paths (the checkout, the home directory) in stack traces.

    The host name never gets in: the client's identity, which would carry it, is fixed (`IDENTITY`).
    """
    return text.replace(str(Path.cwd()), ".").replace(str(Path.home()), "~")


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
    from threads_server.testing import running_server

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
                async with ThreadsClient(server.base_url, max_retries=0) as threads:
                    assistant = await threads.assistants.create(model="echo", name="histories")
                    rec = Recording(Threadloom(env.client, task_queue=TASK_QUEUE), threads, assistant.id)
                    worker = build_worker(env.client, threads, task_queue=TASK_QUEUE, tools=registry)
                    async with worker:
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
