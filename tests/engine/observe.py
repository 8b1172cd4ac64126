"""What a test observes: a thread's messages and runs on the server, a turn's phase."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from threadloom.starter.api import TurnHandle
from threadloom.threads_client import Message, Run, ThreadsClient
from threadloom.workflows.contracts import TurnPhase


@dataclass(frozen=True)
class ThreadState:
    """What a user sees on a thread: its messages (oldest first) and runs (oldest first)."""

    messages: list[Message]
    runs: list[Run]

    @property
    def user_messages(self) -> list[Message]:
        return [m for m in self.messages if m.role == "user"]

    @property
    def statuses(self) -> list[str]:
        return [r.status for r in self.runs]


async def thread_state(threads: ThreadsClient, thread_id: str) -> ThreadState:
    messages = [m async for m in threads.threads.messages.list(thread_id, order="asc", limit=100)]
    runs = [r async for r in threads.threads.runs.list(thread_id, order="asc", limit=100)]
    return ThreadState(messages, runs)


async def wait_for_phase(handle: TurnHandle, phase: TurnPhase, *, polls: int = 400) -> None:
    """Poll the turn's `progress` query until it reports `phase`."""
    for _ in range(polls):
        if (await handle.progress()).phase == phase:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"turn {handle.workflow_id} never reached {phase}")
