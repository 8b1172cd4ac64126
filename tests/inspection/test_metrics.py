"""The worker exports Temporal SDK metrics in Prometheus format when `metrics_address` is set."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.ports import free_port
from threadloom.starter.api import Threadloom
from threadloom.starter.metrics import CORE_LOGGER, RepeatFilter, sdk_runtime
from threadloom.starter.settings import Settings
from threadloom.worker import run_worker
from threadloom.workflows.contracts import TurnRequest, UserMessage


def test_metrics_are_off_by_default() -> None:
    assert Settings().metrics_address is None
    assert sdk_runtime(Settings()) is sdk_runtime(Settings())  # one runtime per process and address


def test_a_storm_of_one_warning_is_summarized() -> None:
    """A thousand copies of one core warning: five pass, the next after the window counts the rest;
    a different warning meanwhile still passes."""
    storm = RepeatFilter(window=0.2, limit=5)

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord(CORE_LOGGER, logging.WARNING, __file__, 1, msg, None, None)

    passed = [
        r for r in (record("Activity not found on completion") for _ in range(1_000)) if storm.filter(r)
    ]
    assert len(passed) == 5
    assert storm.filter(record("another warning"))
    time.sleep(0.25)
    later = record("Activity not found on completion")
    assert storm.filter(later)
    assert later.getMessage().endswith("(and 995 more like it in 0.2s)")


WANTED = ("temporal_workflow_completed", "temporal_local_activity_execution_latency")


async def test_worker_serves_prometheus_metrics_after_a_turn(
    temporal_env: WorkflowEnvironment,
    threads_server: Any,
    task_queue: str,
    assistant_id: str,
    thread_id: str,
) -> None:
    address = f"127.0.0.1:{free_port()}"
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
        # The client can see the result before the worker's core counts the completion (CI once
        # scraped too early on a loaded machine), so scrape until it does, as Prometheus would.
        async with httpx.AsyncClient() as http:
            for _ in range(50):
                body = (await http.get(f"http://{address}/metrics")).text
                rows = [row for row in body.splitlines() if row[:1].isalpha()]
                names = {row.split("{")[0].split(" ")[0] for row in rows}
                if all(any(name.startswith(want) for name in names) for want in WANTED):
                    break
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await worker
    assert any(name.startswith("temporal_workflow_completed") for name in names), sorted(names)
    # Every turn runs its writes as local activities; whether it also runs the `wait_for_run`
    # activity depends on whether the run ended within the first read (CI once finished inside it).
    assert any(name.startswith("temporal_local_activity_execution_latency") for name in names)
