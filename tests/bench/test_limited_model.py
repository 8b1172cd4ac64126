"""The limited-model phase of `threadloom bench` runs end to end and counts what the backend saw,
without and with the threads server's concurrency cap."""

from __future__ import annotations

import json
import subprocess
import sys

ONLY_LIMITED = [
    *("--run-ms", "", "--turns", "0", "--throughput", "", "--in-flight", "0"),
    *("--server", "", "--limited-model", "12", "--json"),
]


def test_limited_model_phase_reports_turns_and_429s() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "threadloom.starter.cli", "bench", *ONLY_LIMITED],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout[done.stdout.index("{") :])
    figures = report["extra"]["limited model"]
    assert figures["columns"] == ["without cap", "with server cap"]
    uncapped, capped = (figures["runs"][column] for column in figures["columns"])
    for run in (uncapped, capped):
        assert (run["turns"], run["completed"], run["failed"]) == (12, 12, 0), run
        assert run["answered"] == 12, run  # one answered request per completed turn
        assert 1 <= run["most_at_once"] <= 5 and run["wall_s"] > 0, run
    # 12 turns at once against 5 slots: without the cap some were refused; with it, none
    assert uncapped["refused_429"] >= 1, uncapped
    assert capped["refused_429"] == 0, capped
