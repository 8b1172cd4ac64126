"""One import package, `threadloom`, whose top level exports the public API (one sorted `__all__`)."""

from __future__ import annotations

import subprocess
import sys

import threadloom

EXPECTED = {
    "Threadloom",
    "TurnHandle",
    "TurnRequest",
    "TurnResult",
    "UserMessage",
    "RunOverrides",
    "TurnPolicy",
    "PollSettings",
    "ConversationLimits",
    "Settings",
    "ThreadsClient",
    "ToolRegistry",
    "TurnError",
    "TemporalUnavailable",
    "TurnOutcomeUnknown",
    "ThreadBusy",
    "RunFailed",
    "EncryptionKeyError",
}


def test_the_public_names_stay_exported_from_the_top() -> None:
    assert EXPECTED <= set(threadloom.__all__)
    assert threadloom.__all__ == sorted(threadloom.__all__)
    for name in threadloom.__all__:
        assert getattr(threadloom, name).__name__ == name
    assert issubclass(threadloom.TemporalUnavailable, threadloom.TurnError)


def test_importing_the_package_loads_nothing_else() -> None:
    """Workflow code imports `threadloom` afresh in the sandbox for every run: it must stay light."""
    code = "import sys, threadloom; print(sorted(m for m in sys.modules if m.startswith('threadloom')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['threadloom']"
