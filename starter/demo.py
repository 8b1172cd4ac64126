"""`threadloom dev` and `threadloom demo`: the embedded stack, and conversations run on it.

The demo is the seed's flows run as durable turns: a complete conversation (thread, message, run,
reply); a multi-turn conversation on one thread, whose second turn's run stalls past its deadline and
is cancelled and run again by the engine; a turn whose run calls a tool registered in the worker; and
a turn answered from a document (`demo_document`) attached for file_search, whose reply cites it.
It prints each reply and where to see the workflow in the Temporal UI, checks what ended up on the
threads, and exits non-zero if anything is off.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from threadloom.starter import demo_document
from threadloom.starter.api import Threadloom
from threadloom.starter.devstack import StackInfo, dev_stack
from threadloom.starter.errors import TurnError
from threadloom.starter.settings import Settings
from threadloom.threads_client import Assistant, ThreadsClient
from threadloom.workflows.contracts import RunOverrides, TurnPolicy, TurnRequest, UserMessage


async def dev_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the embedded stack in the foreground until Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with dev_stack(settings, with_web=True) as stack:
        async with ThreadsClient(base_url=stack.threads_base_url, max_retries=0) as threads:
            assistant = await demo_assistant(threads)
        print(f"  assistant {assistant.id} (model {assistant.model}, {assistant.name!r})")
        print(f"threadloom dev stack is up (task queue {stack.task_queue!r}); Ctrl-C stops it.")
        print(f'  try: threadloom send --assistant {assistant.id} "Hello"  (in another shell)')
        if stack.web_url:
            print(f"  or chat in a browser: {stack.web_url}?assistant={assistant.id}")
        await stop.wait()
        print("stopping …")
    return 0


DEMO_MODEL, DEMO_NAME = "echo", "threadloom demo"


async def demo_assistant(threads: ThreadsClient) -> Assistant:
    """The demo's assistant: the one an earlier `dev` or `demo` made on this server, else a new one."""
    async for assistant in threads.assistants.list():
        if (assistant.name, assistant.model) == (DEMO_NAME, DEMO_MODEL):
            return assistant
    return await threads.assistants.create(
        model=DEMO_MODEL, name=DEMO_NAME, instructions="Answer briefly."
    )


@dataclass
class _Turn:
    text: str
    run: RunOverrides = field(default_factory=RunOverrides)
    policy: TurnPolicy = field(default_factory=TurnPolicy)
    note: str = ""
    tools: list[str] = field(default_factory=list)
    document: bool = False
    """Upload `demo_document` and attach it to the message for file_search."""


STALL_ONCE = _Turn(
    "Tell me again what threadloom does when a run gets stuck.",
    run=RunOverrides(metadata={"fault": "stall", "fault_times": "1"}),
    policy=TurnPolicy(run_deadline_seconds=3),
    note="this run stalls; after its 3 s deadline the engine cancels it and runs the turn again",
)

FLOWS: list[tuple[str, list[_Turn]]] = [
    ("a complete conversation", [_Turn("Hello! Can you hear me?")]),
    (
        "a multi-turn conversation",
        [
            _Turn("My name is Ada and I would like to plan a trip to Lisbon."),
            STALL_ONCE,
            _Turn("Thanks. Please summarise what we talked about."),
        ],
    ),
    (
        "a tool-using turn",
        [
            _Turn(
                'What is the weather in Lisbon?\n/tool get_weather {"city": "Lisbon"}',
                tools=["get_weather"],
                note="the run calls get_weather (a function registered in the worker)",
            )
        ],
    ),
    (
        "a turn answered from a document",
        [
            _Turn(
                "search: what happens when a worker crashes in the middle of a turn?",
                run=RunOverrides(tools=[{"type": "file_search"}]),
                document=True,
                note=f"{demo_document.NAME} is attached for file_search; the reply cites it",
            )
        ],
    ),
]


def _indented(text: str) -> str:
    """Continuation lines of a multi-line message, aligned under its first line."""
    return text.replace("\n", "\n" + " " * 14)


def _ui_link(stack: StackInfo, workflow_id: str) -> str:
    if stack.ui_url is None:
        return workflow_id
    return f"{stack.ui_url}/namespaces/{stack.namespace}/workflows/{quote(workflow_id, safe='')}"


async def demo_command(args: argparse.Namespace | None, settings: Settings) -> int:
    """Bring up the embedded stack, run the demo flows, check the threads, shut down."""
    started = time.monotonic()
    async with dev_stack(settings, faults_enabled=True) as stack:
        threadloom = await Threadloom.connect(
            settings.model_copy(
                update={
                    "temporal_address": stack.temporal_address,
                    "threads_base_url": stack.threads_base_url,
                }
            )
        )
        async with ThreadsClient(base_url=stack.threads_base_url, max_retries=0) as threads:
            assistant = await demo_assistant(threads)
            print(f"assistant {assistant.id} (model {assistant.model})")
            problems = []
            for number, (title, turns) in enumerate(FLOWS, start=1):
                print(f"\n[{number}/{len(FLOWS)}] {title}")
                thread = await threads.threads.create(metadata={"demo": title})
                for turn in turns:
                    attachments = await _attach_document(threads) if turn.document else []
                    problems += await _run_turn(
                        threadloom, stack, thread.id, assistant.id, turn, attachments
                    )
                problems += await _check_thread(threads, thread.id, turns)
    print(f"\ndemo finished in {time.monotonic() - started:.1f}s")
    print(f"The stack has stopped; its state stays in {settings.home}/. To open the links above,")
    print("run `make dev` (or `threadloom dev`) and keep it running.")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


async def _attach_document(threads: ThreadsClient) -> list[dict[str, Any]]:
    """Upload the demo's document; the attachment that gives it to file_search."""
    uploaded = await threads.files.create((demo_document.NAME, demo_document.TEXT.encode()))
    return [{"file_id": uploaded.id, "tools": [{"type": "file_search"}]}]


def _citations(content: list[dict[str, Any]]) -> list[str]:
    """The file ids that the reply's `file_citation` annotations name."""
    return [
        note["file_citation"]["file_id"]
        for part in content
        if part.get("type") == "text"
        for note in part["text"].get("annotations") or []
        if note.get("type") == "file_citation"
    ]


async def _run_turn(
    threadloom: Threadloom,
    stack: StackInfo,
    thread_id: str,
    assistant_id: str,
    turn: _Turn,
    attachments: list[dict[str, Any]],
) -> list[str]:
    request = TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=turn.text, attachments=attachments),
        run=turn.run,
        policy=turn.policy,
        turn_key=uuid.uuid4().hex[:12],
        tools=turn.tools,
    )
    print(f"  user      > {_indented(turn.text)}")
    if turn.note:
        print(f"              ({turn.note})")
    try:
        result = await threadloom.run_turn(request)
    except TurnError as error:
        print(f"  FAILED    > {type(error).__name__}: {error}")
        return [f"turn {request.workflow_id} failed: {error}"]
    print(f"  assistant > {_indented(result.reply)}")
    cited = _citations(result.content)
    if turn.document:
        if [a["file_id"] for a in attachments] != cited[:1]:
            return [f"turn {request.workflow_id} cites {cited}, not {demo_document.NAME}"]
        print(f"              cites {demo_document.NAME} ({cited[0]}) with a file_citation")
    outcomes = ", ".join(f"{a.run_id}: {a.outcome}" for a in result.attempts)
    print(f"              runs: {outcomes}")
    print(f"              {_ui_link(stack, request.workflow_id)}")
    return []


async def _check_thread(threads: ThreadsClient, thread_id: str, turns: list[_Turn]) -> list[str]:
    """Exactly one user and one assistant message per turn; one completed run per turn."""
    roles: Counter[str] = Counter()
    async for message in threads.threads.messages.list(thread_id, order="asc"):
        roles[message.role] += 1
    statuses: Counter[str] = Counter()
    async for run in threads.threads.runs.list(thread_id, order="asc"):
        statuses[run.status] += 1
    print(
        f"  thread {thread_id}: {roles['user']} user and {roles['assistant']} assistant "
        f"messages; runs: {dict(statuses)}"
    )
    expected = len(turns)
    problems = []
    if roles["user"] != expected or roles["assistant"] != expected:
        problems.append(f"{thread_id} holds {dict(roles)} messages, expected {expected} of each")
    if statuses["completed"] != expected:
        problems.append(f"{thread_id} has {statuses['completed']} completed runs, expected {expected}")
    return problems
