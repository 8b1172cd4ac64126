"""The README's Python runs as written, against real servers, and its tools example works as it says:
`THREADLOOM_TOOLS=myapp.tools:registry threadloom worker` from the directory holding `myapp/`.

A script that used a Temporal client sometimes aborts *after* it finished, while the interpreter
finalizes (SIGABRT, "PyGILState_Release", temporalio/sdk-python issue 300; `worker.py` sidesteps it
with `exit_without_teardown`). That abort, and only that one, counts as a clean exit here.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.M | re.S)
MODULE_PATH = re.compile(r"# ([\w/]+\.py)\n")
THREADLOOM = str(Path(sys.executable).with_name("threadloom"))


def _scripts() -> list[str]:
    return [block for block in BLOCKS if not MODULE_PATH.match(block)]


def _module(path: str) -> str:
    (block,) = [block for block in BLOCKS if block.startswith(f"# {path}\n")]
    return block


def test_every_python_block_of_the_readme_compiles_as_a_file() -> None:
    assert len(BLOCKS) >= 4
    for number, block in enumerate(BLOCKS, start=1):
        compile(block, f"README.md python block {number}", "exec")  # top-level await fails here


@pytest.fixture
def stack_env(
    temporal_env: WorkflowEnvironment, threads_server: Any, task_queue: str, assistant_id: str
) -> dict[str, str]:
    """What a reader has after `make dev` and `export ASSISTANT_ID=…`, on this test's servers."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("THREADLOOM_")}
    return {
        **env,
        "THREADLOOM_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "THREADLOOM_THREADS_BASE_URL": threads_server.base_url,
        "THREADLOOM_TASK_QUEUE": task_queue,
        "ASSISTANT_ID": assistant_id,
    }


async def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        raise AssertionError(f"{argv} did not finish in 90 s") from None
    return process.returncode or 0, out.decode(), err.decode()


def _aborted_while_finalizing(code: int, err: str) -> bool:
    return (
        code == -signal.SIGABRT
        and err.startswith("Fatal Python error: PyGILState_Release")
        and "finalizing" in err[:300]
    )


@pytest.mark.usefixtures("engine_worker")
async def test_the_readme_scripts_run_as_written(stack_env: dict[str, str], tmp_path: Path) -> None:
    printed = []
    for number, block in enumerate(_scripts(), start=1):
        script = tmp_path / f"readme_{number}.py"
        script.write_text(block)
        code, out, err = await _run([sys.executable, str(script)], tmp_path, stack_env)
        assert code == 0 or _aborted_while_finalizing(code, err), (
            f"README python block {number}:\n{block}\n{err[-3000:]}"
        )
        printed.append(out)
    assert any(out.startswith("Echo: What's the weather in Paris? run_") for out in printed)
    assert "Echo: Where is my order?\n" in printed
    assert "Echo: Tell me about Lisbon in a few words\n" in printed  # streamed, then resumed


async def test_threadloom_tools_load_from_the_current_directory(
    stack_env: dict[str, str], tmp_path: Path, temporal_env: WorkflowEnvironment, thread_id: str
) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "tools.py").write_text(_module("myapp/tools.py"))
    queue = f"readme-tools-{uuid.uuid4().hex[:8]}"
    env = {**stack_env, "THREADLOOM_TOOLS": "myapp.tools:registry", "THREADLOOM_TASK_QUEUE": queue}
    worker = await asyncio.create_subprocess_exec(
        THREADLOOM, "worker", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        request = {
            "thread_id": thread_id,
            "assistant_id": stack_env["ASSISTANT_ID"],
            "message": {"text": 'Weather?\n/tool get_weather {"city": "Lisbon"}'},
            "tools": ["get_weather"],
        }
        loom = Threadloom(temporal_env.client, task_queue=queue)
        result = await asyncio.wait_for(loom.run_turn(request), timeout=60)
        assert "[get_weather] Lisbon: sunny, 24°C" in result.reply
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=30)


async def test_a_tools_registry_that_does_not_import_stops_the_worker_with_one_line(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**stack_env, "THREADLOOM_TOOLS": "myapp.tools:registry"}  # no myapp/ here
    code, _, err = await _run([THREADLOOM, "worker"], tmp_path, env)
    assert code == 2
    assert err.splitlines() == [
        f"threadloom worker: THREADLOOM_TOOLS=myapp.tools:registry cannot be loaded from {tmp_path}: "
        "ModuleNotFoundError: No module named 'myapp'"
    ]
