"""A worker process killed (SIGKILL) during a tool call: the call is retried per the tool's policy
on another worker, and the run completes once."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.engine.test_worker_crash import worker_process
from tests.tools.toolbox import NOTES_FILE
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import TurnPolicy, TurnRequest, UserMessage


async def test_killed_worker_during_a_tool_call(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    threads: ThreadsClient,
    loom: Threadloom,
    task_queue: str,
    thread_id: str,
    assistant_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    notes = tmp_path / "notes.txt"
    notes.touch()
    monkeypatch.setenv("THREADLOOM_TOOLS", "tests.tools.toolbox:registry")
    monkeypatch.setenv(NOTES_FILE, str(notes))
    start = worker_process(temporal_env, threads_server, task_queue)
    request = TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="Crash\n/tool slow_note " + json.dumps({"note": "n1"})),
        tools=["slow_note"],
        policy=TurnPolicy(heartbeat_timeout_seconds=2),
    )
    async with start() as first:
        handle = await loom.start_turn(request)
        for _ in range(300):
            if notes.read_text():
                break
            await asyncio.sleep(0.05)
        first.kill()  # mid-call: the tool has written its note and is still working
        assert await first.wait() == -signal.SIGKILL

    async with start() as second:
        result = await asyncio.wait_for(handle.result(), 60)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0

    assert result.reply == "Echo: Crash\n[slow_note] noted n1"
    assert notes.read_text().splitlines() == ["n1", "n1"]  # the lost attempt, then the retry
    state = await thread_state(threads, thread_id)
    assert len(state.user_messages) == 1
    assert state.statuses == ["completed"]
