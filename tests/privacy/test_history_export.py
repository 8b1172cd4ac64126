"""`threadloom history` of an encrypted turn: as stored by default (no text; it replays with the key
ring), decrypted with `--decode` (the text is there, and the file replays with no key at all)."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.privacy.leaks import leaks
from threadloom.starter.api import Threadloom
from threadloom.starter.history import history_command, load_history
from threadloom.starter.replay import build_replayer, replay_one
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import TurnRequest, UserMessage


async def test_history_as_stored_and_decoded(
    encrypted_loom: Threadloom,
    temporal_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    ring_text: str,
    tmp_path: Path,
) -> None:
    text = f"The alarm code is {uuid.uuid4().hex[:8]}"
    request = TurnRequest(
        thread_id=(await threads.threads.create()).id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        turn_key=uuid.uuid4().hex,
    )
    await encrypted_loom.run_turn(request)
    settings = Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        encryption_keys=ring_text,
    )
    files = {}
    for decode in (False, True):
        files[decode] = tmp_path / f"decoded-{decode}.json"
        args = argparse.Namespace(
            workflow_id=request.workflow_id, run_id=None, output=str(files[decode]), decode=decode
        )
        assert await history_command(args, settings) == 0

    stored, decoded = (files[d].read_text(encoding="utf-8") for d in (False, True))
    assert leaks(text, stored) == [] and leaks("binary/encrypted", stored)
    assert leaks(text, decoded) and leaks("binary/encrypted", decoded) == []
    plain_replayer = build_replayer()
    outcome = await replay_one(plain_replayer, "decoded", load_history(files[True]))
    assert outcome.ok, outcome.line()
    outcome = await replay_one(plain_replayer, "stored", load_history(files[False]))
    assert not outcome.ok and "encryption is off" in outcome.line()
