"""The chat page in headless Debian Chromium (Playwright, as `test_turn_in_ui.py` drives it).

A user picks the assistant, types a message and presses Enter: the first run fails (a server error
the assistant's fault metadata injects) and the page says the reply starts over; the replacing run's
reply is drawn while it streams (at least two partial renders, each a prefix of the reply, before the
final one); the turn links to the Temporal UI, a tool call shows while it runs, and a reload shows the
conversation again, read from the thread. The echo responder writes each chunk after a delay, so the
stream is visible.
`UPDATE_SCREENSHOTS=1` also writes the page to `docs/chat-page.png`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.browser.test_turn_in_ui import CHROMIUM_ARGS, DOCS, TIMEOUT_MS, _chromium, _skip_loudly
from threadloom.starter.api import Threadloom
from threadloom.starter.demo_tools import registry as demo_tools
from threadloom.starter.settings import Settings
from threadloom.starter.web import running_web_server
from threadloom.starter.web.app import WebContext
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker

UI = "http://localhost:8233"
CHUNK_DELAY_MS = 80
"""The echo responder's pause before each chunk of its reply. The stream finds the replacing run a
moment after it starts (on a loaded machine a few hundred ms), and the deltas written before arrive
together, drawn as one render: the reply must take longer than that."""
RECORD_RENDERS = """() => {
  window.renders = [];
  const log = document.getElementById("log");
  new MutationObserver(() => {
    const texts = log.querySelectorAll(".message.assistant .text");
    const last = texts[texts.length - 1];
    if (!last) return;
    const text = last.textContent;
    if (text && text !== window.renders[window.renders.length - 1]) window.renders.push(text);
  }).observe(log, { childList: true, subtree: true, characterData: true });
}"""


@pytest.fixture
async def chat_page(
    temporal_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[tuple[str, str]]:
    """The page over a threads server whose echo streams slowly and a worker serving the demo tools;
    yields the page's root URL and an assistant's id."""
    from threadloom.threads_server.testing import running_server

    async with (
        running_server(tmp_path, echo_chunk_delay_ms=CHUNK_DELAY_MS, faults_enabled=True) as server,
        ThreadsClient(server.base_url, max_retries=0) as threads,
        build_worker(temporal_env.client, threads, task_queue=task_queue, tools=demo_tools),
    ):
        # The first run on a thread fails with a server error: the engine replaces it.
        flaky = {"fault": "fail=server_error", "fault_times": "1"}
        assistant = await threads.assistants.create(model="echo", name="page test", metadata=flaky)
        settings = Settings(threads_base_url=server.base_url, task_queue=task_queue)
        loom = Threadloom(temporal_env.client, task_queue=task_queue, settings=settings)
        context = WebContext(loom, threads, UI, temporal_env.client.namespace)
        async with running_web_server(context) as url:
            yield url, assistant.id


async def _send(page: Any, text: str, replies: int) -> None:
    await page.fill("#message", text)
    await page.press("#message", "Enter")
    done = ".message.assistant .text[data-state=done]"
    await page.wait_for_function(f"n => document.querySelectorAll('{done}').length >= n", arg=replies)


async def test_a_reply_streams_into_the_page_and_a_reload_shows_the_conversation(
    chat_page: tuple[str, str], tmp_path: Path
) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip_loudly("Python Playwright not installed: `pip install -e '.[test]'`")
    chromium = _chromium()
    url, assistant_id = chat_page
    text = (
        "Plan a slow walk along the river with two cafés, a bookshop and a bench in the shade, "
        "then back over the old bridge before it gets dark, with a stop for ice cream and a look "
        f"at the boats in the harbour, code {uuid.uuid4().hex[:6]}"
    )  # 44 words in the reply: 11 deltas of 4 words, ~0.9 s (the stream may join late: see below)
    reply = f"Echo: {text}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 760})
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(f"{url}/chat?assistant={assistant_id}")
            await page.wait_for_selector("body[data-ready=true]")
            await page.evaluate(RECORD_RENDERS)
            await _send(page, text, replies=1)
            renders: list[str] = await page.evaluate("window.renders")
            notes = await page.locator(".note").all_inner_texts()
            conversation = page.url.split("conversation=")[1].split("&")[0]
            link = await page.get_attribute(".message.assistant .meta a", "href")

            tool_text = 'Weather for the walk?\n/tool get_weather {"city": "Lisbon"}'
            await page.fill("#tools", "get_weather")
            await _send(page, tool_text, replies=2)
            tool_row = await page.inner_text(".message.assistant .tool")

            await page.screenshot(path=tmp_path / "chat-page.png")
            await page.reload()
            await page.wait_for_selector("body[data-ready=true]")
            await page.wait_for_selector(".message.assistant >> nth=1")
            shown = [
                (await m.get_attribute("class"), await m.locator(".text").inner_text())
                for m in await page.locator(".message").all()
            ]
        finally:
            await browser.close()
    assert len(notes) == 1 and "the reply starts over with run run_" in notes[0], notes
    assert renders[-1] == reply
    partial = renders[:-1]
    assert len(partial) >= 2, renders
    assert all(reply.startswith(r) and len(r) < len(reply) for r in partial), renders
    assert link is not None and link.startswith(f"{UI}/namespaces/default/workflows/turn-thread_")
    assert tool_row == "get_weather → Lisbon: sunny, 24°C"
    assert shown == [
        ("message user", text),
        ("message assistant", reply),
        ("message user", tool_text),
        ("message assistant", "Echo: Weather for the walk?\n[get_weather] Lisbon: sunny, 24°C"),
    ]
    assert conversation.startswith("web-")
    if os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copyfile(tmp_path / "chat-page.png", DOCS / "chat-page.png")
