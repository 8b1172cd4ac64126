"""Fixtures of the streaming tests: a starter API that also reaches the session's threads server."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.settings import Settings


@pytest.fixture
def streaming_loom(
    temporal_env: WorkflowEnvironment, task_queue: str, threads_server: Any
) -> Threadloom:
    """`loom`, with settings naming the test threads server (a stream reads it)."""
    settings = Settings(threads_base_url=threads_server.base_url, task_queue=task_queue)
    return Threadloom(temporal_env.client, task_queue=task_queue, settings=settings)
