"""Every recorded history in `tests/histories/` replays against the current workflow code.

A failure here means a code change would break workflows that are running in production: ship it
behind `workflow.patched` (README, "Inspection and replay") or re-record only if no such workflow
can exist.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.replay.keys import replay_converter
from threadloom.starter.history import load_history
from threadloom.starter.replay import build_replayer, replay_one, workflow_type

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
        "tool-broken",  # a tool keeps raising: its error is the call's output, the turn completes
        "tool-failed",  # an `on_error="fail"` tool keeps raising: run cancelled, the turn fails
        "thread-busy-waited",  # another client's run holds the thread: timers until it ends
        "thread-busy",  # ... past the turn's budget: ThreadBusy
        # the same two recorded before BUSY_THREAD_PATCH (the wait inside the activity), kept so
        # that turns started before the change keep replaying
        "thread-busy-waited-v1",
        "thread-busy-v1",
        "tool-failed-siblings-cancelled",  # a `fail` tool's failure cancels the slow call beside it
        "run-completed-while-cancelling",  # a run past its deadline completes: its reply is kept
        "rate-limited-waited",  # rate_limit_exceeded with Retry-After: a timer, then the next run
        "rate-limited-backoff",  # ... beyond max_run_attempts, waits backing off (since the patch)
        "rate-limited-past-deadline",  # ... until the turn's deadline: RunFailed
        "encrypted",  # every payload encrypted (test key ring of `keys.py`)
        # since MESSAGE_WITH_RUN_PATCH (the message goes with the first run, which is read at once)
        "quick-run",  # the run ended by that first read: no wait, no fetch
        "waited-run",  # the wait's last read carries the reply
        "plain-server",  # a server without threadloom's extensions: polls, the reply fetched
        "stalled-and-rerun-with-run",
        "cancelled-with-run",
        "tool-call-with-run",  # the first read sees requires_action
        "thread-busy-waited-with-run",
        "run-completed-while-cancelling-with-run",
        "rate-limited-waited-with-run",
    )
    for path in turns:
        assert f"turn-{path}" in names
    # a conversation that continued as new once, and one of its turns (a child workflow)
    assert {"conversation-run1", "conversation-run2", "conversation-child1"} <= names
    # a conversation whose first turn failed (server_error runs), and that failed turn
    assert {"conversation-turn-failed", "conversation-turn-failed-child1"} <= names
    # a conversation cancelled during its turn (and that turn); one resent a still-running turn's key
    assert {"conversation-cancelled", "conversation-cancelled-child1"} <= names
    assert "conversation-resent-running-turn" in names
    assert "janitor-pass" in names  # a retention pass that deleted a thread
    assert {"conversation-with-run-run1", "conversation-with-run-child1"} <= names


MACHINE_PATH = re.compile(r"(?<![\w.])(/(home|root|Users|work|tmp|private|var|opt|usr)/|[A-Za-z]:\\\\)")


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_history_has_no_machine_paths_or_secrets(path: Path) -> None:
    """`record.py` scrubs the checkout, virtualenv, Python and home paths out of stack traces."""
    text = path.read_text(encoding="utf-8")
    found = MACHINE_PATH.search(text)
    assert found is None, text[max(0, found.start() - 80) : found.end() + 80]
    for secret in ("api_key", "api-key", "authorization", "bearer "):
        assert secret not in text.lower(), secret
    # The host name would come in through an identity (`pid@host` by default): the recorder fixes it.
    identities = set(re.findall(r'"identity": "([^"]*)"', text))
    # ("history-service" is the Temporal server itself, passing a parent's cancel to its child.)
    assert identities <= {"threadloom-recorder", "history-service"}, identities
    assert f"@{socket.gethostname()}" not in text


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = load_history(path)
    # The codec of the test key ring: encrypted histories decrypt, the others pass through it.
    outcome = await replay_one(build_replayer(data_converter=replay_converter()), path.name, history)
    assert outcome.ok, outcome.line()
    assert workflow_type(history) != "?"
