"""`threadloom replay` of the recorded encrypted turn: it replays with the key ring (after a rotation
too), and without the recording's key it fails naming that key, never replaying on garbage."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.privacy.leaks import leaks
from tests.replay.keys import ROTATED
from threadloom.starter.encryption import new_key_entry
from threadloom.starter.history import load_history
from threadloom.starter.replay import build_replayer, replay_command, replay_one
from threadloom.starter.settings import Settings

ENCRYPTED = Path(__file__).resolve().parent.parent / "histories" / "turn-encrypted.json"


def test_the_recorded_file_holds_no_text() -> None:
    text = ENCRYPTED.read_text(encoding="utf-8")
    assert leaks("the gate code is 2468", text) == []
    assert leaks("binary/encrypted", text)


@pytest.mark.parametrize(
    ("keys", "code", "line"),
    [
        (ROTATED, 0, "1 of 1 histories replayed; 0 failed"),
        (new_key_entry("k2"), 1, "key 'k1', which the key ring (k2) does not hold"),
        (None, 1, "encrypted with key 'k1' but encryption is off"),
    ],
    ids=["rotated-ring", "ring-without-k1", "encryption-off"],  # stable ids: the keys are random
)
async def test_replay_command_uses_the_key_ring(
    keys: str | None, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(files=[str(ENCRYPTED)], workflow_id=[], query=None, limit=None)
    settings = Settings(encryption_keys=keys) if keys else Settings()
    assert await replay_command(args, settings) == code
    assert line in capsys.readouterr().out


async def test_default_replayer_does_not_read_it() -> None:
    outcome = await replay_one(build_replayer(), ENCRYPTED.name, load_history(ENCRYPTED))
    assert not outcome.ok and "encryption is off" in outcome.line()
