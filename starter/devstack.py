"""The embedded stack: Temporal dev server, threads server and a worker, all on this machine.

`threadloom dev` and `threadloom demo` use it. Each part is started only when the settings do not point
elsewhere: setting `THREADLOOM_TEMPORAL_ADDRESS` uses that cluster instead of the dev server, and setting
`THREADLOOM_THREADS_BASE_URL` uses that Threads API instead of the embedded server.

With encryption on (`THREADLOOM_ENCRYPTION=true`, or a key ring in `THREADLOOM_ENCRYPTION_KEYS`) the
worker and clients encrypt every payload, and the dev server's UI decrypts them through a codec server
started beside it (`starter.codec_server`, loopback, a new token each start).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from threadloom.starter.settings import Settings
from threadloom.starter.temporal_binary import find_temporal_binary

if TYPE_CHECKING:
    from threadloom.threads_server.settings import ServerSettings

DEMO_TOOLS = "threadloom.starter.demo_tools:registry"
"""The tools the embedded worker serves when `THREADLOOM_TOOLS` is not set."""
SEARCH_ATTRIBUTE_NAMES = ("ThreadId", "AssistantId", "ConversationId")


class DevStackError(RuntimeError):
    """A part of the embedded stack could not start; the message says what to do."""


@dataclass(frozen=True)
class StackInfo:
    """Where the running stack's parts listen."""

    temporal_address: str
    ui_url: str | None
    threads_base_url: str
    namespace: str
    task_queue: str
    codec_url: str | None = None
    """The codec server the UI decrypts through (encryption on and the dev server started here)."""
    web_url: str | None = None
    """The chat page (`threadloom dev` only; None when its port was taken)."""


def _host_port(address: str, default_port: int) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host or "127.0.0.1", int(port)) if port.isdigit() else (address, default_port)


def port_is_free(host: str, port: int) -> bool:
    """True if nothing accepts connections on `host:port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.3)
        return probe.connect_ex((host, port)) != 0


def require_free(host: str, port: int, what: str, settings: Settings) -> None:
    """Raise `DevStackError` naming the settings that move `what` if `host:port` is taken."""
    if not port_is_free(host, port):
        raise DevStackError(
            f"port {port} on {host} is taken, so {what} cannot start there.\n{port_settings(settings)}"
        )


def port_settings(settings: Settings) -> str:
    """The settings that move each port of the embedded stack, with the values in force."""
    temporal_host, temporal_port = _host_port(settings.temporal_address, 7233)
    threads = urlsplit(settings.threads_base_url)
    threads_host, threads_port = threads.hostname or "127.0.0.1", threads.port or 8700
    rows = [
        (
            "Temporal dev server",
            f"THREADLOOM_EMBEDDED_TEMPORAL=true THREADLOOM_TEMPORAL_ADDRESS="
            f"{temporal_host}:{temporal_port}",
        ),
        ("Temporal UI", f"THREADLOOM_UI_PORT={settings.ui_port}  (or --ui-port)"),
        ("codec server", f"THREADLOOM_CODEC_PORT={settings.codec_port}  (with encryption on)"),
        ("chat page", f"THREADLOOM_WEB_PORT={settings.web_port}  (`dev` skips it when taken)"),
        (
            "threads server",
            f"THREADLOOM_EMBEDDED_THREADS_SERVER=true THREADLOOM_THREADS_BASE_URL="
            f"http://{threads_host}:{threads_port}/v1",
        ),
    ]
    lines = [f"  {name:<20} {values}" for name, values in rows]
    return (
        "Stop what listens there, or move that part to a free port with its settings:\n"
        + "\n".join(lines)
        + "\nTo use a Temporal or threads server that already runs there instead, set its address"
        "\n(THREADLOOM_TEMPORAL_ADDRESS, THREADLOOM_THREADS_BASE_URL) without the EMBEDDED setting."
    )


async def _wait_for_port(
    host: str, port: int, *, seconds: float, process: asyncio.subprocess.Process, log: Path
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise DevStackError(f"the Temporal dev server exited with {process.returncode}; see {log}")
        if not port_is_free(host, port) and await _serving(f"{host}:{port}"):
            return
        await asyncio.sleep(0.1)
    raise DevStackError(f"the Temporal dev server did not serve on {port} in {seconds:.0f}s; see {log}")


async def _serving(address: str) -> bool:
    from temporalio.client import Client

    try:
        client = await Client.connect(address)
        return await client.service_client.check_health()
    except RuntimeError:
        return False


@contextlib.asynccontextmanager
async def temporal_dev_server(
    settings: Settings, *, ui_codec_endpoint: str | None = None
) -> AsyncIterator[str]:
    """Run `temporal server start-dev` with a persistent SQLite file under `settings.home`.

    `ui_codec_endpoint`: the codec server its UI decodes payloads through (`--ui-codec-endpoint`).
    """
    host, port = _host_port(settings.temporal_address, 7233)
    require_free(host, port, "the Temporal dev server", settings)
    require_free(host, settings.ui_port, "the Temporal UI", settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    log = settings.home / "temporal.log"
    command = [
        find_temporal_binary(settings.temporal_binary),
        "server",
        "start-dev",
        "--db-filename",
        str(settings.home / "temporal.db"),
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(settings.ui_port),
        "--namespace",
        settings.namespace,
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        # The dev server has one history shard whose transfer-task reader polls at most 20 times a
        # second by default, which adds ~35 ms to half the workflow tasks (README, "Benchmarks").
        "--dynamic-config-value",
        "history.transferProcessorMaxPollRPS=1000",
    ]
    for name in SEARCH_ATTRIBUTE_NAMES:
        command += ["--search-attribute", f"{name}=Keyword"]
    if ui_codec_endpoint:
        command += ["--ui-codec-endpoint", ui_codec_endpoint]
    with log.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=log_file, stderr=asyncio.subprocess.STDOUT
        )
    try:
        await _wait_for_port(host, port, seconds=60, process=process, log=log)
        yield f"{host}:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


def embedded_server_settings(settings: Settings, *, faults_enabled: bool = False) -> ServerSettings:
    """The embedded threads server's settings: address from the base URL, the rest as `serve` reads."""
    from threadloom.threads_server.settings import ServerSettings

    parts = urlsplit(settings.threads_base_url)
    return ServerSettings(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 8700,
        db_path=settings.home / "threads.db",
        faults_enabled=faults_enabled,
    )


def responder_note(server: ServerSettings) -> str:
    """Which responder answers runs, as the server's `auto` rule picks it (README, docs/server.md)."""
    llm = server.llm
    if server.responder == "echo" or (server.responder == "auto" and not llm.base_url):
        return "echo responder: no THREADLOOM_LLM_BASE_URL set"
    model = f", model {llm.model}" if llm.model else ", the assistant's model"
    target = f"chat completions at {llm.base_url}{model}"
    if server.responder == "auto":
        return f"{target}; assistants on model 'echo' get the echo responder"
    return target


@contextlib.asynccontextmanager
async def embedded_threads_server(
    settings: Settings, *, faults_enabled: bool = False
) -> AsyncIterator[str]:
    """Serve the self-hosted Threads API with uvicorn in this event loop; yields its base URL."""
    from pydantic import ValidationError

    from threadloom.threads_server.app import create_app
    from threadloom.threads_server.cli import settings_error
    from threadloom.threads_server.serving import build_server

    parts = urlsplit(settings.threads_base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 8700
    require_free(host, port, "the threads server", settings)
    try:
        server_settings = embedded_server_settings(settings, faults_enabled=faults_enabled)
    except ValidationError as exc:  # e.g. a non-loopback THREADLOOM_THREADS_BASE_URL without a key
        raise DevStackError(f"the threads server cannot start: {settings_error(exc)}") from None
    server = build_server(create_app(server_settings), host, port, log_level="warning")
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise DevStackError(f"the threads server did not start on {host}:{port}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def dev_stack(
    settings: Settings,
    *,
    say: Callable[[str], None] = print,
    with_worker: bool = True,
    faults_enabled: bool = False,
    with_web: bool = False,
) -> AsyncIterator[StackInfo]:
    """Start whatever the settings do not point elsewhere, and a worker; stop them all on exit.

    `with_web`: also the chat page (`starter.web`), linking turns to this stack's Temporal UI.
    """
    from threadloom.worker import run_worker

    explicit = settings.model_fields_set
    start_temporal = settings.embedded_temporal
    if start_temporal is None:
        start_temporal = "temporal_address" not in explicit
    start_threads = settings.embedded_threads_server
    if start_threads is None:
        start_threads = "threads_base_url" not in explicit
    async with contextlib.AsyncExitStack() as stack:
        temporal_address, ui_url = settings.temporal_address, None
        from threadloom.starter.codec_server import start_for_dev_stack

        codec = await start_for_dev_stack(settings, stack, say, with_codec_server=start_temporal)
        if start_temporal:
            say("starting the Temporal dev server …")
            temporal_address = await stack.enter_async_context(
                temporal_dev_server(settings, ui_codec_endpoint=codec.ui_endpoint if codec else None)
            )
            ui_url = f"http://localhost:{settings.ui_port}"
            say(f"  Temporal at {temporal_address}, UI at {ui_url}")
        threads_base_url = settings.threads_base_url
        if start_threads:
            note = responder_note(embedded_server_settings(settings))
            say(f"starting the threads server ({note}) …")
            threads_base_url = await stack.enter_async_context(
                embedded_threads_server(settings, faults_enabled=faults_enabled)
            )
            say(f"  Threads API at {threads_base_url}")
        # The embedded worker serves the demo's tools unless THREADLOOM_TOOLS says otherwise.
        tools = settings.tools if "tools" in settings.model_fields_set else DEMO_TOOLS
        effective = settings.model_copy(
            update={
                "temporal_address": temporal_address,
                "threads_base_url": threads_base_url,
                "tools": tools,
            }
        )
        if with_worker:
            stop = asyncio.Event()
            worker_task = asyncio.create_task(run_worker(effective, stop_event=stop))
            stack.push_async_callback(_stop_worker, stop, worker_task)
            say(f"  worker polling task queue {settings.task_queue!r}")
        web_url = None
        if with_web:
            from threadloom.starter.web.server import start_for_dev_stack as start_web

            web_url = await start_web(effective, stack, say, ui_url=settings.web_ui_url or ui_url)
        yield StackInfo(
            temporal_address,
            ui_url,
            threads_base_url,
            settings.namespace,
            settings.task_queue,
            codec_url=codec.url if codec else None,
            web_url=web_url,
        )


async def _stop_worker(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=30)
