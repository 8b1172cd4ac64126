"""What the image holds really runs: the wheel the Dockerfile installs, in a fresh venv outside the repo.

The Dockerfile builds a wheel from its build context (the repository less `.dockerignore`) and installs
it. This test does the same on this machine: it copies that context, builds the wheel with the same
`pip wheel --no-deps`, installs it (dependencies from the registry or pip's cache) into a new venv in
a temporary directory, and runs from there, with that directory as the working directory, so no
repository folder can stand in for a missing one. Every command of a compose service answers `--help`;
`threadloom serve` answers HTTP (the compose health check passes, `/v1` wants the key) and `threadloom
worker` runs a turn against the session's Temporal dev server, then stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.ports import free_port
from tests.test_deploy_files import run_compose
from threadloom.starter.api import Threadloom
from threadloom.starter.encryption import KeyRing, encrypted_converter, new_key_entry
from threadloom.threads_client import ThreadsClient

ROOT = Path(__file__).resolve().parent.parent
KEY = "image-test-key"


@dataclass(frozen=True)
class Image:
    """The fresh venv holding the installed wheel, and a working directory outside the repo."""

    bin: Path
    workdir: Path

    def env(self, *layers: dict[str, str]) -> dict[str, str]:
        """This machine's environment without THREADLOOM_* or PYTHONPATH, then `layers` on top."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("THREADLOOM_") and name not in {"PYTHONPATH", "VIRTUAL_ENV"}
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        for layer in layers:
            env.update(layer)
        return env

    def command(self, argv: list[str]) -> list[str]:
        """`argv` with its program taken from the venv (as the image's PATH would)."""
        return [str(self.bin / argv[0]), *argv[1:]]


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def copy_build_context(target: Path) -> None:
    """Copy the repository less `.dockerignore` (the plain names and `**/` globs that file uses)."""
    patterns = _dockerignore_patterns()

    def ignored(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(ROOT)
        skip = set()
        for name in names:
            path = (relative / name).as_posix()
            for pattern in patterns:
                if fnmatch.fnmatch(path, pattern) or (
                    pattern.startswith("**/") and fnmatch.fnmatch(name, pattern[3:])
                ):
                    skip.add(name)
        return skip

    shutil.copytree(ROOT, target, ignore=ignored)


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    answer = subprocess.run(command, capture_output=True, text=True, timeout=240, **kwargs)
    assert answer.returncode == 0, f"{command} exited {answer.returncode}:\n{answer.stderr[-3000:]}"
    return answer


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    base = tmp_path_factory.mktemp("image")
    context, wheels, venv = base / "context", base / "wheels", base / "venv"
    copy_build_context(context)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), "."],
         cwd=context)  # fmt: skip
    (wheel,) = wheels.glob("threadloom-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=base)
    workdir = base / "run"
    workdir.mkdir()
    return Image(venv / "bin", workdir)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The compose services built from the image, as Docker Compose resolves them."""
    answer = run_compose("config", "--format", "json", api_key=KEY)
    assert answer.returncode == 0, answer.stderr
    built = {n: s for n, s in json.loads(answer.stdout)["services"].items() if "build" in s}
    assert set(built) == {"codec-server", "threads-migrate", "threads-server", "worker"}
    return built


def _dockerfile_command() -> list[str]:
    (line,) = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD")]
    command: list[str] = json.loads(line.removeprefix("CMD").strip())
    return command


def test_the_wheel_installs_one_import_package(image: Image) -> None:
    """Ours is `threadloom` alone: no generic top-level `workflows`, `starter`, `worker`, ..."""
    (site,) = (image.bin.parent / "lib").glob("python3*/site-packages")
    record = next(site.glob("threadloom-*.dist-info")) / "RECORD"
    tops = {line.split("/", 1)[0].split(",", 1)[0] for line in record.read_text().splitlines()}
    ours = {top for top in tops if not top.endswith(".dist-info") and top != ".." and top != "bin"}
    assert ours == {"threadloom"}, sorted(ours)


def test_every_command_of_the_image_answers_help(image: Image, services: dict[str, Any]) -> None:
    commands = [service["command"] for service in services.values()] + [_dockerfile_command()]
    for argv in commands:
        answer = subprocess.run(
            image.command([*argv, "--help"]),
            cwd=image.workdir,
            env=image.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0, f"{argv} --help: {answer.stderr[-2000:]}"
        assert "usage:" in answer.stdout


@pytest.fixture
def served(image: Image, services: dict[str, Any], postgres_url: str) -> Iterator[str]:
    """`threadloom serve` from the image with the compose environment, on a free loopback port,
    on a PostgreSQL database as in the stack (the test server's, not the stack's host name)."""
    port = str(free_port())
    service = services["threads-server"]
    env = image.env(
        {name: value for name, value in service["environment"].items() if value},
        {
            "THREADLOOM_SERVER_HOST": "127.0.0.1",
            "THREADLOOM_SERVER_PORT": port,
            "THREADLOOM_SERVER_DATABASE_URL": postgres_url,
        },
    )
    log = (image.workdir / "serve.log").open("w")
    process = subprocess.Popen(
        image.command(service["command"]), cwd=image.workdir, env=env, stdout=log, stderr=log
    )
    try:
        health = service["healthcheck"]["test"][1:]  # after "CMD": the image's own check
        deadline = time.monotonic() + 30
        while subprocess.run(image.command(health), env=env, capture_output=True).returncode != 0:
            assert process.poll() is None, (image.workdir / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the health check did not pass within 30 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


async def test_serve_and_worker_from_the_image_run_a_turn(
    image: Image, services: dict[str, Any], served: str, temporal_env: WorkflowEnvironment
) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{served}/assistants")).status_code == 401
    task_queue = f"image-{uuid.uuid4().hex[:8]}"
    # The compose worker encrypts (its ring comes from a compose secret): here the ring is given in
    # the environment, and the test's client encrypts with the same ring.
    ring = new_key_entry("image")
    worker_env = image.env(
        services["worker"]["environment"],
        {
            "THREADLOOM_ENCRYPTION_KEYS": ring,
            "THREADLOOM_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "THREADLOOM_THREADS_BASE_URL": served,
            "THREADLOOM_TASK_QUEUE": task_queue,
        },
    )
    log_path = image.workdir / "worker.log"
    with log_path.open("w") as log:
        worker = await asyncio.create_subprocess_exec(
            *image.command(services["worker"]["command"]),
            cwd=image.workdir,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with ThreadsClient(served, KEY, max_retries=0) as threads:
                assistant = await threads.assistants.create(model="echo", name="image test")
                thread = await threads.threads.create()
            client = Client(
                temporal_env.client.service_client,
                namespace=temporal_env.client.namespace,
                data_converter=encrypted_converter(KeyRing.parse(ring)),
            )
            loom = Threadloom(client, task_queue=task_queue)
            request = {
                "thread_id": thread.id,
                "assistant_id": assistant.id,
                "message": {"text": "hello from the image"},
                "policy": {"run_deadline_seconds": 30},
            }
            # Bounded: a worker that died at start would leave the turn waiting for ever.
            result = await asyncio.wait_for(loom.run_turn(request), timeout=60)
            assert result.reply == "Echo: hello from the image"
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(worker.wait(), timeout=30)
            except TimeoutError:
                worker.kill()
                raise
    output = log_path.read_text()
    assert code == 0, output[-3000:]
    assert "worker started" in output and "worker stopped" in output


def test_the_wheel_holds_the_chat_page(image: Image) -> None:
    """`threadloom web` serves files that are no Python module: package data, in the wheel."""
    (site,) = (image.bin.parent / "lib").glob("python3*/site-packages")
    static = site / "threadloom" / "starter" / "web" / "static"
    assert sorted(path.name for path in static.iterdir()) == ["chat.css", "chat.html", "chat.js"]
