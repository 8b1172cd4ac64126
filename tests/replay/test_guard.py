"""The replay guard catches a change that is not replay-safe.

`ChangedTurnWorkflow` is the turn as someone might carelessly edit it: a short timer before the user
message is added. Registered under the real workflow type name, it must fail replay of every
recorded turn with a non-determinism error, and so does `threadloom replay` (exit 1, naming the file).
The same change behind `workflow.patched` replays them all (the README's way to ship it).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner

from tests.replay.keys import replay_converter
from threadloom.starter.history import load_history
from threadloom.starter.replay import build_replayer, replay_command, replay_one, workflow_type
from threadloom.starter.settings import Settings
from threadloom.workflows.contracts import TURN_WORKFLOW, TurnRequest, TurnResult
from threadloom.workflows.turn import TurnWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
TURNS = sorted(p for p in HISTORIES.glob("*.json") if workflow_type(load_history(p)) == TURN_WORKFLOW)


@workflow.defn(name=TURN_WORKFLOW, sandboxed=False)
class ChangedTurnWorkflow(TurnWorkflow):
    """The turn with an unguarded new step in front: replay-unsafe on purpose."""

    @workflow.run
    async def run(self, request: TurnRequest) -> TurnResult:
        await workflow.sleep(timedelta(milliseconds=10))
        return await super().run(request)


@workflow.defn(name=TURN_WORKFLOW, sandboxed=False)
class PatchedTurnWorkflow(TurnWorkflow):
    """The same change shipped safely: only workflows started after the deploy take the new step."""

    @workflow.run
    async def run(self, request: TurnRequest) -> TurnResult:
        if workflow.patched("timer-before-add-message"):
            await workflow.sleep(timedelta(milliseconds=10))
        return await super().run(request)


@pytest.mark.parametrize("path", TURNS, ids=[p.stem for p in TURNS])
async def test_patched_change_replays(path: Path) -> None:
    replayer = build_replayer(
        [PatchedTurnWorkflow], UnsandboxedWorkflowRunner(), data_converter=replay_converter()
    )
    outcome = await replay_one(replayer, path.name, load_history(path))
    assert outcome.ok, outcome.line()


@pytest.mark.parametrize("path", TURNS, ids=[p.stem for p in TURNS])
async def test_changed_turn_fails_replay(path: Path) -> None:
    replayer = build_replayer(
        [ChangedTurnWorkflow], UnsandboxedWorkflowRunner(), data_converter=replay_converter()
    )
    outcome = await replay_one(replayer, path.name, load_history(path))
    assert isinstance(outcome.error, workflow.NondeterminismError), outcome.line()


async def test_replay_command_names_the_failing_history(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from threadloom import starter

    real = starter.replay.build_replayer
    monkeypatch.setattr(
        starter.replay,
        "build_replayer",
        lambda *a, **k: real([ChangedTurnWorkflow], UnsandboxedWorkflowRunner()),
    )
    happy = HISTORIES / "turn-happy.json"
    args = argparse.Namespace(files=[str(happy)], workflow_id=[], query=None, limit=None)
    assert await replay_command(args, Settings()) == 1
    out = capsys.readouterr().out
    assert f"FAIL  {happy} (TurnWorkflow" in out
    assert "NondeterminismError" in out
    assert "0 of 1 histories replayed; 1 failed" in out
