"""`threadloom history` and `threadloom replay` against a live server (a real turn, the real worker)."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.history import history_command
from threadloom.starter.replay import replay_command
from threadloom.starter.settings import Settings
from threadloom.workflows.contracts import TurnRequest, UserMessage


async def test_history_file_and_live_workflows_replay(
    loom: Threadloom,
    engine_worker: None,
    temporal_env: WorkflowEnvironment,
    thread_id: str,
    assistant_id: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = TurnRequest(
        turn_key=uuid.uuid4().hex,
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="record me"),
    )
    await loom.run_turn(request)
    settings = Settings(temporal_address=temporal_env.client.service_client.config.target_host)
    output = tmp_path / "turn.json"
    history_args = argparse.Namespace(workflow_id=request.workflow_id, run_id=None, output=str(output))
    assert await history_command(history_args, settings) == 0
    assert output.read_text().startswith('{\n  "events": [')

    replay_args = argparse.Namespace(
        files=[str(output)],
        workflow_id=[request.workflow_id],
        query=f'ThreadId="{thread_id}"',
        limit=10,
    )
    assert await replay_command(replay_args, settings) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"ok    {output} (TurnWorkflow, 8 events)"
    assert lines[1] == f"ok    {request.workflow_id} (TurnWorkflow, 8 events)"
    assert lines[2].startswith(f"ok    {request.workflow_id} (run ")
    assert lines[3] == "3 of 3 histories replayed; 0 failed"
