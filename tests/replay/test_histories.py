"""Every recorded history in `tests/histories/` replays against the current workflow code.

A failure here means a code change would break workflows that are running in production: ship it
behind `workflow.patched` (README, "Inspection and replay") or re-record only if no such workflow
can exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from starter.history import load_history
from starter.replay import build_replayer, replay_one, workflow_type

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def test_histories_cover_the_turn_paths() -> None:
    names = {path.stem for path in HISTORIES}
    turns = (
        "happy",
        "stalled-and-rerun",
        "failed-invalid-prompt",
        "cancelled",
        "tool-call",
        "tool-rounds",
    )
    for path in turns:
        assert f"turn-{path}" in names
    # a conversation that continued as new once, and one of its turns (a child workflow)
    assert {"conversation-run1", "conversation-run2", "conversation-child1"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load_history(path)
    outcome = await replay_one(build_replayer(), path.name, history)
    assert outcome.ok, outcome.line()
    assert workflow_type(history) != "?"
