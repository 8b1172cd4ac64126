"""`threadloom demo` and `dev` end to end: their own Temporal dev server, threads server and worker on
free ports; what a taken port prints; what `make demo` installs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port
from threadloom.starter.demo import demo_command
from threadloom.starter.settings import Settings


async def test_demo_runs_its_conversations_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        temporal_address=f"127.0.0.1:{free_port()}",
        ui_port=free_port(),
        threads_base_url=f"http://127.0.0.1:{free_port()}/v1",
        task_queue="demo-test",
        embedded_temporal=True,
        embedded_threads_server=True,
    )

    assert await demo_command(None, settings) == 0

    out = capsys.readouterr().out
    made = re.search(r"^assistant (asst_\w+) \(model echo\)$", out, flags=re.M)
    assert made is not None
    assert "assistant > Echo: Hello! Can you hear me?" in out
    assert "assistant > Echo: Thanks. Please summarise what we talked about." in out
    # The stalled turn: its first run was cancelled after the deadline, the second completed.
    assert re.search(r"runs: run_\w+: timed_out, run_\w+: completed", out)
    assert "1 user and 1 assistant messages" in out
    assert "3 user and 3 assistant messages" in out
    # The tool turn: the run called get_weather, the worker answered, the reply lists the output.
    assert "[get_weather] Lisbon: sunny, 24°C" in out
    # The document turn: the reply quotes the attached guide and cites it with a file_citation.
    assert 'From threadloom-field-guide.md: "When a worker crashes in the middle of a turn,' in out
    assert re.search(r"cites threadloom-field-guide\.md \(file-?\w+\) with a file_citation", out)
    assert "PROBLEM" not in out
    assert (tmp_path / "home" / "temporal.db").exists()

    # A second run on the same state reuses the demo's assistant instead of adding one.
    assert await demo_command(None, settings) == 0
    assert f"assistant {made.group(1)} (model echo)" in capsys.readouterr().out


THREADLOOM = str(Path(sys.executable).with_name("threadloom"))
ROOT = Path(__file__).resolve().parent.parent


def _stack_env(home: Path, temporal_port: int, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("THREADLOOM_")}
    return {
        **env,
        "THREADLOOM_HOME": str(home),
        "THREADLOOM_EMBEDDED_TEMPORAL": "true",
        "THREADLOOM_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "THREADLOOM_EMBEDDED_THREADS_SERVER": "true",
        "THREADLOOM_THREADS_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        **extra,
    }


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("command", ["dev", "demo"])
def test_a_taken_port_prints_one_message_with_the_settings_that_move_each_port(
    command: str, taken_port: int, tmp_path: Path
) -> None:
    env = _stack_env(tmp_path, taken_port, THREADLOOM_UI_PORT=str(free_port()))
    answer = subprocess.run([THREADLOOM, command], env=env, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 1
    assert "Traceback" not in answer.stderr
    lines = answer.stderr.splitlines()
    assert lines[0] == (
        f"threadloom {command}: port {taken_port} on 127.0.0.1 is taken, "
        "so the Temporal dev server cannot start there."
    )
    for setting in (
        f"THREADLOOM_EMBEDDED_TEMPORAL=true THREADLOOM_TEMPORAL_ADDRESS=127.0.0.1:{taken_port}",
        "THREADLOOM_UI_PORT=",
        "--ui-port",
        "THREADLOOM_EMBEDDED_THREADS_SERVER=true THREADLOOM_THREADS_BASE_URL=http://127.0.0.1:",
    ):
        assert setting in answer.stderr


async def test_dev_names_its_model_and_prints_its_assistant(tmp_path: Path) -> None:
    ui_port = free_port()
    env = _stack_env(
        tmp_path,
        free_port(),
        THREADLOOM_LLM_BASE_URL="http://127.0.0.1:9/v1",
        THREADLOOM_LLM_MODEL="m1",
    )
    dev = await asyncio.create_subprocess_exec(
        THREADLOOM, "dev", "--ui-port", str(ui_port), env=env, stdout=asyncio.subprocess.PIPE
    )
    assert dev.stdout is not None
    printed = []
    try:
        async with asyncio.timeout(60):
            while not printed or "try: threadloom send" not in printed[-1]:
                line = (await dev.stdout.readline()).decode()
                assert line, f"dev ended early: {printed}"
                printed.append(line)
    finally:
        dev.send_signal(signal.SIGINT)
        await asyncio.wait_for(dev.wait(), timeout=30)
    out = "".join(printed)
    assert f"UI at http://localhost:{ui_port}" in out
    assert "(chat completions at http://127.0.0.1:9/v1, model m1; " in out
    assert "echo responder" not in out.split("assistants on model")[0]
    assert re.search(r"assistant asst_\w+ \(model echo, 'threadloom demo'\)", out)


def test_make_demo_installs_threadloom_alone_and_make_test_the_test_extras(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    plans = {
        target: subprocess.run(
            ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, timeout=30
        ).stdout
        for target in ("demo", "test")
    }
    assert "pip --disable-pip-version-check install --progress-bar off -e .\n" in plans["demo"]
    assert "[test]" not in plans["demo"]
    assert "installing threadloom and its dependencies" in plans["demo"]
    assert "install --progress-bar off -e '.[test]'" in plans["test"]
