"""A finished turn in the Temporal UI: found by its `ThreadId`, with its summary and its activities.

Headless Debian Chromium (`/usr/bin/chromium`, `apt-get install chromium`) driven by Python Playwright
(no browser download). Without either the test skips with a warning that says what to install.
`UPDATE_SCREENSHOTS=1` also writes the turn's pages to `docs/turn-in-ui.png` and
`docs/turn-in-ui-metadata.png`.
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.ports import free_port
from threadloom.starter.api import Threadloom
from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import SEARCH_ATTRIBUTES, RunOverrides, TurnRequest, UserMessage

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
TIMEOUT_MS = 20_000


def _skip_loudly(reason: str) -> None:
    warnings.warn(f"browser test skipped: {reason}", stacklevel=2)
    pytest.skip(reason)


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _skip_loudly("Chromium not found: `apt-get install chromium` (or set CHROMIUM=/path)")
    return path


@pytest.fixture(scope="module")
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server of its own, with the UI on a free port."""
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_binary(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        ui=True,
        ui_port=port,
    )
    try:
        yield env, port
    finally:
        await env.shutdown()


async def _text_of_all_frames(page: Any) -> str:
    """The page's text, including frames (the UI renders summaries in a sandboxed frame)."""
    texts = [await frame.inner_text("body") for frame in page.frames]
    return "\n".join(texts)


async def test_finished_turn_in_the_ui(ui_env: tuple[WorkflowEnvironment, int], tmp_path: Path) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip_loudly("Python Playwright not installed: `pip install -e '.[test]'`")
    chromium = _chromium()
    from threadloom.threads_server.testing import running_server

    env, ui_port = ui_env
    async with (
        running_server(tmp_path, faults_enabled=True) as server,
        ThreadsClient(server.base_url, max_retries=0) as threads,
    ):
        assistant = await threads.assistants.create(model="echo", name="ui test")
        thread = await threads.threads.create()
        request = TurnRequest(
            turn_key=uuid.uuid4().hex,
            thread_id=thread.id,
            assistant_id=assistant.id,
            message=UserMessage(text="Plan a weekend in Lisbon with two museums and a tram ride"),
            # Longer than the read right after the create: the turn shows its wait activity too.
            run=RunOverrides(metadata={"fault": "delay=1500"}),
        )
        async with build_worker(env.client, threads, task_queue="ui-test"):
            result = await Threadloom(env.client, task_queue="ui-test").run_turn(request)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            query = quote(f'ThreadId="{thread.id}"')
            await page.goto(f"http://127.0.0.1:{ui_port}/namespaces/default/workflows?query={query}")
            await page.get_by_role("link", name=request.workflow_id).first.click()

            # The timeline names each activity (the message goes with the run; the wait's last read
            # carries the reply); the wait carries its summary ("wait for run run_…").
            await page.get_by_text("create_run", exact=True).locator("visible=true").first.wait_for()
            wait = f"wait_for_run • wait for run {result.run_id}"
            await page.get_by_text(wait).locator("visible=true").first.wait_for()
            await page.screenshot(path=tmp_path / "turn-in-ui.png")

            await page.get_by_text("User Metadata", exact=True).first.click()
            await page.get_by_text("Summary", exact=True).first.wait_for()
            await page.wait_for_function(
                "t => document.body.innerText.includes(t) || [...document.querySelectorAll('iframe')]"
                ".some(f => f.contentDocument && f.contentDocument.body.innerText.includes(t))",
                arg=request.summary(),
            )
            text = await _text_of_all_frames(page)
            assert request.summary() in text
            assert f"turn key {request.turn_key}" in " ".join(text.split())
            await page.screenshot(path=tmp_path / "turn-in-ui-metadata.png")
        finally:
            await browser.close()
    if os.environ.get("UPDATE_SCREENSHOTS"):
        for name in ("turn-in-ui.png", "turn-in-ui-metadata.png"):
            shutil.copyfile(tmp_path / name, DOCS / name)
