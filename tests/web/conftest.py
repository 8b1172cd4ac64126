"""The chat page's server on a free loopback port, over the session's Temporal and threads servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.settings import Settings
from threadloom.starter.web import running_web_server
from threadloom.starter.web.app import WebContext
from threadloom.threads_client import ThreadsClient

UI = "http://ui.test:8233"


@pytest.fixture
def web_loom(temporal_env: WorkflowEnvironment, task_queue: str, threads_server: Any) -> Threadloom:
    """The starter API on this test's task queue, whose settings name the session's threads server
    (a stream reads the run's events there)."""
    settings = Settings(threads_base_url=threads_server.base_url, task_queue=task_queue)
    return Threadloom(temporal_env.client, task_queue=task_queue, settings=settings)


@pytest.fixture
async def web_url(web_loom: Threadloom, threads: ThreadsClient) -> AsyncIterator[str]:
    """The page's root URL (no key, loopback); its turns go to this test's task queue."""
    context = WebContext(web_loom, threads, UI, web_loom.client.namespace)
    async with running_web_server(context) as url:
        yield url


@pytest.fixture
async def web(web_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=web_url, timeout=30) as client:
        yield client
