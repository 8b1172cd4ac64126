"""The encrypting client and worker the privacy tests share (a fresh two-key ring per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from threadloom.activities.tools import ToolRegistry
from threadloom.starter.api import Threadloom
from threadloom.starter.encryption import KeyRing, encrypted_converter, new_key_entry
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker

registry = ToolRegistry()


@registry.tool(retries=1, retry_interval=0.05, on_error="fail")
def open_locker(code: str) -> str:
    """Open the locker (it is jammed: the turn fails, and the error quotes the code)."""
    raise RuntimeError(f"locker {code} is jammed")


@pytest.fixture
def ring_text() -> str:
    """`THREADLOOM_ENCRYPTION_KEYS` of this test: k2 encrypts, k1 decrypts too."""
    return f"{new_key_entry('k2')},{new_key_entry('k1')}"


@pytest.fixture
async def encrypted_loom(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, task_queue: str, ring_text: str
) -> AsyncIterator[Threadloom]:
    """The starter API and a worker that both encrypt with `ring_text`."""
    client = Client(
        temporal_env.client.service_client,
        namespace=temporal_env.client.namespace,
        data_converter=encrypted_converter(KeyRing.parse(ring_text)),
    )
    async with build_worker(client, threads, task_queue=task_queue, tools=registry):
        yield Threadloom(client, task_queue=task_queue)
