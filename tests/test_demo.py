"""`threadloom demo` end to end: its own Temporal dev server, threads server and worker, free ports."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from starter.demo import demo_command
from starter.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_demo_runs_its_conversations_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        temporal_address=f"127.0.0.1:{_free_port()}",
        ui_port=_free_port(),
        threads_base_url=f"http://127.0.0.1:{_free_port()}/v1",
        task_queue="demo-test",
        embedded_temporal=True,
        embedded_threads_server=True,
    )

    assert await demo_command(None, settings) == 0

    out = capsys.readouterr().out
    assert "assistant > Echo: Hello! Can you hear me?" in out
    assert "assistant > Echo: Thanks. Please summarise what we talked about." in out
    # The stalled turn: its first run was cancelled after the deadline, the second completed.
    assert re.search(r"runs: run_\w+: timed_out, run_\w+: completed", out)
    assert "1 user and 1 assistant messages" in out
    assert "3 user and 3 assistant messages" in out
    # The tool turn: the run called get_weather, the worker answered, the reply lists the output.
    assert "[get_weather] Lisbon: sunny, 24°C" in out
    assert "PROBLEM" not in out
    assert (tmp_path / "home" / "temporal.db").exists()
