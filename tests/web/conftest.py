"""The chat page's server on a free loopback port, over the session's Temporal and threads servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from threadloom.starter.api import Threadloom
from threadloom.starter.web import running_web_server
from threadloom.starter.web.app import WebContext
from threadloom.threads_client import ThreadsClient

UI = "http://ui.test:8233"


@pytest.fixture
async def web_url(loom: Threadloom, threads: ThreadsClient) -> AsyncIterator[str]:
    """The page's root URL (no key, loopback); its turns go to this test's task queue."""
    context = WebContext(loom, threads, UI, loom.client.namespace)
    async with running_web_server(context) as url:
        yield url


@pytest.fixture
async def web(web_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=web_url, timeout=30) as client:
        yield client
