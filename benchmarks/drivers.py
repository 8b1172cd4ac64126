"""One turn, four ways, each returning the run's id once the reply is in the caller's hands.

- `threadloom`: the starter API, `Threadloom.run_turn` (a `TurnWorkflow` end to end);
- `seed`: what the seed did: add message, create run, poll every 1,000 ms until the run is not
  `queued`/`in_progress`, list messages — plain asyncio and our `threads_client`, no Temporal;
- `direct`: the same without Temporal, but waiting with `runs.poll` (long-poll on our server): the
  floor that engine overhead is measured against;
- `openai`: the official SDK, `beta.threads.runs.create_and_poll` with its defaults, plus message create
  and list;
- `noop`: no Threads API at all, a no-op workflow whose activity sleeps as long as the run
  (`benchmarks.noop`): the floor of the completion lag that Temporal alone sets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from threadloom.benchmarks.noop import NOOP_WAIT_WORKFLOW
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import RunOverrides, TurnPolicy, TurnRequest, UserMessage

SEED_POLL_SECONDS = 1.0
SEED_MAX_POLLS = 600
"""The seed's loop is bounded too: ten minutes of 1-second polls."""


@dataclass(frozen=True)
class Turn:
    """What a driver needs for one turn."""

    thread_id: str
    assistant_id: str
    text: str
    run_ms: int


@dataclass(frozen=True)
class TurnDone:
    """A finished turn: its run, and when (Unix ms) the reply was in hand."""

    run_id: str
    done_at_ms: float
    reply: str
    workflow_id: str | None = None
    phases_ms: dict[str, float] | None = None
    """threadloom only: the turn's own timings (workflow clock), split by phase."""
    finished_at_ms: float | None = None
    """noop only: when its stand-in run ended (Unix ms); the others' runs end on the server."""


Driver = Callable[[Turn], Awaitable[TurnDone]]


def fault_metadata(run_ms: int) -> dict[str, str]:
    """Run metadata that makes the threads server take `run_ms` before answering."""
    return {"fault": f"delay={run_ms}"} if run_ms > 0 else {}


def now_ms() -> float:
    """Unix time in ms, comparable with the server's `finished_at_ms` (same machine)."""
    return time.time() * 1000


def threadloom_driver(loom: Threadloom, policy: TurnPolicy | None = None) -> Driver:
    """Turns through the starter API (with `policy`, else the default one)."""

    async def turn(t: Turn) -> TurnDone:
        request = TurnRequest(
            turn_key=uuid.uuid4().hex,
            thread_id=t.thread_id,
            assistant_id=t.assistant_id,
            message=UserMessage(text=t.text),
            run=RunOverrides(metadata=fault_metadata(t.run_ms)),
            policy=policy or TurnPolicy(),
        )
        result = await loom.run_turn(request)
        done = now_ms()
        timings = result.timings
        phases = {
            "message_added": _ms(timings.message_added_at - timings.started_at),
            "run": _ms(timings.run_completed_at - timings.message_added_at),
            "fetch_reply": _ms(timings.finished_at - timings.run_completed_at),
            "workflow": _ms(timings.finished_at - timings.started_at),
        }
        return TurnDone(result.run_id, done, result.reply, request.workflow_id, phases)

    return turn


def noop_driver(client: Client, task_queue: str) -> Driver:
    """No-op turns (`NoopWaitTurnWorkflow`) on the no-op worker's `task_queue`."""

    async def turn(t: Turn) -> TurnDone:
        ended = await client.execute_workflow(
            NOOP_WAIT_WORKFLOW,
            t.run_ms,
            id=f"noop-{uuid.uuid4().hex}",
            task_queue=task_queue,
            result_type=float,
        )
        return TurnDone("", now_ms(), t.text, finished_at_ms=ended)

    return turn


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


async def _add_and_create(client: ThreadsClient, t: Turn) -> Any:
    await client.threads.messages.create(t.thread_id, content=t.text)
    return await client.threads.runs.create(
        t.thread_id, assistant_id=t.assistant_id, metadata=fault_metadata(t.run_ms)
    )


async def _reply_of(client: ThreadsClient, thread_id: str, run_id: str) -> str:
    page = await client.threads.messages.list(thread_id, run_id=run_id, order="asc")
    return "\n".join(m.text for m in page.data if m.role == "assistant")


def seed_driver(client: ThreadsClient) -> Driver:
    """The seed's fixed 1-second polling loop."""

    async def turn(t: Turn) -> TurnDone:
        run = await _add_and_create(client, t)
        for _ in range(SEED_MAX_POLLS):
            if run.status not in ("queued", "in_progress"):
                break
            await asyncio.sleep(SEED_POLL_SECONDS)
            run = await client.threads.runs.retrieve(t.thread_id, run.id)
        reply = await _reply_of(client, t.thread_id, run.id)
        return TurnDone(run.id, now_ms(), reply)

    return turn


def direct_driver(client: ThreadsClient) -> Driver:
    """No Temporal, no fixed sleep: `runs.poll` (long-poll where the server offers it)."""

    async def turn(t: Turn) -> TurnDone:
        run = await _add_and_create(client, t)
        run = await client.threads.runs.poll(t.thread_id, run.id, timeout=600)
        reply = await _reply_of(client, t.thread_id, run.id)
        return TurnDone(run.id, now_ms(), reply)

    return turn


def openai_driver(base_url: str) -> tuple[Driver, Callable[[], Awaitable[None]]]:
    """The official SDK's helper with its defaults; returns the driver and its close function.

    Raises:
        ImportError: the `openai` package (a test extra: `pip install -e '.[test]'`) is missing.
    """
    import openai  # a test extra, imported only when this driver is used

    sdk = openai.AsyncOpenAI(base_url=base_url, api_key="bench")

    async def turn(t: Turn) -> TurnDone:
        threads = sdk.beta.threads
        await threads.messages.create(t.thread_id, role="user", content=t.text)
        run = await threads.runs.create_and_poll(
            thread_id=t.thread_id,
            assistant_id=t.assistant_id,
            metadata=fault_metadata(t.run_ms),
        )
        page = await threads.messages.list(t.thread_id, run_id=run.id, order="asc")
        texts = [
            part.text.value
            for m in page.data
            if m.role == "assistant"
            for part in m.content
            if part.type == "text"
        ]
        return TurnDone(run.id, now_ms(), "\n".join(texts))

    return turn, sdk.close
