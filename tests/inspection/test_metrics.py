"""The worker exports Temporal SDK metrics in Prometheus format when `metrics_address` is set."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from starter.api import Threadloom
from starter.metrics import metrics_runtime
from starter.settings import Settings
from worker import run_worker
from workflows.contracts import TurnRequest, UserMessage


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_are_off_by_default() -> None:
    assert Settings().metrics_address is None
    assert metrics_runtime(Settings()) is None


async def test_worker_serves_prometheus_metrics_after_a_turn(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    task_queue: str,
    assistant_id: str,
    thread_id: str,
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    settings = Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        threads_base_url=threads_server.base_url,
        task_queue=task_queue,
        metrics_address=address,
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop_event=stop))
    try:
        loom = Threadloom(temporal_env.client, task_queue=task_queue)
        request = TurnRequest(
            thread_id=thread_id, assistant_id=assistant_id, message=UserMessage(text="count me")
        )
        assert (await loom.run_turn(request)).reply == "Echo: count me"
        async with httpx.AsyncClient() as http:
            body = (await http.get(f"http://{address}/metrics")).text
    finally:
        stop.set()
        await worker
    names = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line[:1].isalpha()}
    assert any(name.startswith("temporal_workflow_completed") for name in names), sorted(names)
    assert any(name.startswith("temporal_activity_execution_latency") for name in names)
