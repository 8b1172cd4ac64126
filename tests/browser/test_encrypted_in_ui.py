"""An encrypted turn in the Temporal UI: readable through the codec server, ciphertext without it.

The dev server's UI is given the codec server as its endpoint, with the token as its path prefix
(what `threadloom dev` does with encryption on). With that codec server running, the workflow page
shows the user's message and the reply; with a codec server that does not know the UI's token (as
anyone else's would be), the page shows the ciphertext and the UI's "Codec Server could not connect".
Headless Debian Chromium through Playwright, as `test_turn_in_ui.py` drives it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.browser.test_turn_in_ui import (
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    _chromium,
    _skip_loudly,
    _text_of_all_frames,
)
from tests.ports import free_port
from threadloom.starter.api import Threadloom
from threadloom.starter.codec_server import running_codec_server
from threadloom.starter.encryption import KeyRing, encrypted_converter, new_key_entry
from threadloom.starter.settings import Settings
from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import SEARCH_ATTRIBUTES, TurnRequest, UserMessage

RING = KeyRing.parse(new_key_entry("k1"))
TOKEN = f"ui-test-{uuid.uuid4().hex}"
SHOWS = (
    "t => document.body.innerText.includes(t) || [...document.querySelectorAll('iframe')]"
    ".some(f => f.contentDocument && f.contentDocument.body.innerText.includes(t))"
)


@pytest.fixture(scope="module")
async def codec_ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, int, int]]:
    """A dev server whose UI decodes through a codec server on `codec_port` (not started yet)."""
    ui_port, codec_port = free_port(), free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_binary(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-codec-endpoint", f"http://127.0.0.1:{codec_port}/{TOKEN}"],
    )
    try:
        yield env, ui_port, codec_port
    finally:
        await env.shutdown()


async def test_ui_decrypts_only_through_the_codec_server(
    codec_ui_env: tuple[WorkflowEnvironment, int, int], tmp_path: Path
) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip_loudly("Python Playwright not installed: `pip install -e '.[test]'`")
    chromium = _chromium()
    from threadloom.threads_server.testing import running_server

    env, ui_port, codec_port = codec_ui_env
    client = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=encrypted_converter(RING),
    )
    text = f"Water the ferns on Tuesday, code {uuid.uuid4().hex[:8]}"
    async with (
        running_server(tmp_path) as server,
        ThreadsClient(server.base_url, max_retries=0) as threads,
    ):
        assistant = await threads.assistants.create(model="echo", name="codec ui test")
        request = TurnRequest(
            turn_key=uuid.uuid4().hex,
            thread_id=(await threads.threads.create()).id,
            assistant_id=assistant.id,
            message=UserMessage(text=text),
        )
        async with build_worker(client, threads, task_queue="codec-ui-test"):
            result = await Threadloom(client, task_queue="codec-ui-test").run_turn(request)
    assert result.reply == f"Echo: {text}"

    settings = Settings(ui_port=ui_port, codec_token=TOKEN)
    url = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/{request.workflow_id}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            async with running_codec_server(settings, RING, port=codec_port):
                await page.goto(url)
                await page.wait_for_function(SHOWS, arg=result.reply)
                await page.wait_for_function(SHOWS, arg=text)
                await page.screenshot(path=tmp_path / "decrypted.png")

            others = settings.model_copy(update={"codec_token": None})  # a new random token
            async with running_codec_server(others, RING, port=codec_port):
                await page.reload()
                await page.wait_for_function(SHOWS, arg="Codec Server could not connect")
                for heading in ("Input", "Result"):  # the payload cards are drawn, undecoded
                    await page.get_by_text(heading, exact=True).locator("visible=true").first.wait_for()
                shown = await _text_of_all_frames(page)
                await page.screenshot(path=tmp_path / "encrypted.png")
        finally:
            await browser.close()
    assert request.workflow_id in shown  # the page is there, only its payloads are not readable
    assert text not in shown and result.reply not in shown
    assert "Water the ferns" not in shown
