"""The worker's workflow sandbox checks our own workflow modules.

A workflow module of the `workflows` package that reads the wall clock must fail in the worker's
sandbox, as anywhere else; it completed while the whole package was passed through.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from threadloom import workflows
from threadloom.worker import sandbox_runner

PROBE = """
from datetime import datetime

from temporalio import workflow


@workflow.defn(name="SandboxProbe")
class SandboxProbe:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # not deterministic: the sandbox must refuse it
"""


@pytest.fixture
def probe_module() -> Iterator[str]:
    """A workflow module inside the `workflows` package, for the length of one test."""
    name = f"_sandbox_probe_{uuid.uuid4().hex[:8]}"
    path = Path(workflows.__file__).parent / f"{name}.py"
    path.write_text(PROBE)
    try:
        yield f"threadloom.workflows.{name}"
    finally:
        path.unlink()
        sys.modules.pop(f"threadloom.workflows.{name}", None)


async def test_a_workflow_module_reading_the_clock_fails_in_the_sandbox(
    temporal_env: WorkflowEnvironment, task_queue: str, probe_module: str
) -> None:
    probe = importlib.import_module(probe_module).SandboxProbe
    client = temporal_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=[probe], workflow_runner=sandbox_runner()
    ):
        handle = await client.start_workflow(
            "SandboxProbe", id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        for _ in range(300):
            events = [e async for e in handle.fetch_history_events()]
            failed = [
                e.workflow_task_failed_event_attributes.failure.message
                for e in events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            ]
            if failed:
                break
            await asyncio.sleep(0.05)
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("probe over")
    assert description.status == WorkflowExecutionStatus.RUNNING  # it never completed
    assert failed and "datetime.datetime.now" in failed[0], failed
