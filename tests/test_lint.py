"""`make lint` in the suite: a call to a method that does not exist (a streamed turn's run lookup
against a foreign Threads API once called one) is a type error that mypy sees before any user does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_every_package_type_checks() -> None:
    checked = _run("mypy", "-p", "threadloom")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ruff_finds_nothing() -> None:
    checked = _run("ruff", "check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = _run("ruff", "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
