"""`THREADLOOM_ENCRYPTION=true` on the dev stack: a key ring is made under its home (owner-only),
turns are encrypted, and the dev server's UI is wired to a codec server that decrypts them."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from tests.ports import free_port
from tests.privacy.leaks import leaks
from threadloom.starter.api import Threadloom
from threadloom.starter.devstack import dev_stack
from threadloom.starter.history import history_json
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import TurnRequest, UserMessage


async def test_dev_stack_encrypts_and_wires_its_ui_to_the_codec_server(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home",
        temporal_address=f"127.0.0.1:{free_port()}",
        ui_port=free_port(),
        threads_base_url=f"http://127.0.0.1:{free_port()}/v1",
        codec_port=free_port(),
        task_queue="dev-encryption-test",
        embedded_temporal=True,
        embedded_threads_server=True,
        encryption=True,
    )
    said: list[str] = []
    async with dev_stack(settings, say=said.append) as stack:
        key_file = settings.home / "encryption-keys"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stack.codec_url == f"http://127.0.0.1:{settings.codec_port}"
        async with httpx.AsyncClient() as http:
            ui = (await http.get(f"{stack.ui_url}/api/v1/settings")).json()
        endpoint = ui["Codec"]["Endpoint"]
        assert (
            endpoint.startswith(f"{stack.codec_url}/")
            and f"  Temporal UI codec endpoint: {endpoint}" in said
        )

        text = f"Feed the cat at {uuid.uuid4().hex[:6]}"
        connected = settings.model_copy(update={"temporal_address": stack.temporal_address})
        loom = await Threadloom.connect(connected)
        async with ThreadsClient(stack.threads_base_url, max_retries=0) as threads:
            assistant = await threads.assistants.create(model="echo", name="dev encryption")
            request = TurnRequest(
                thread_id=(await threads.threads.create()).id,
                assistant_id=assistant.id,
                message=UserMessage(text=text),
                turn_key=uuid.uuid4().hex,
            )
            assert (await loom.run_turn(request)).reply == f"Echo: {text}"

        raw = await Client.connect(stack.temporal_address)  # no codec: what Temporal stores
        history = await raw.get_workflow_handle(request.workflow_id).fetch_history()
        assert leaks(text, history_json(history)) == []
        started = history.events[0].workflow_execution_started_event_attributes.input
        async with httpx.AsyncClient() as http:
            decoded = await http.post(
                f"{endpoint}/decode",
                content=json_format.MessageToJson(started),
                headers={"origin": f"http://localhost:{settings.ui_port}"},
            )
        assert decoded.headers["access-control-allow-origin"] == f"http://localhost:{settings.ui_port}"
        [payload] = json_format.Parse(decoded.text, Payloads()).payloads
        assert text.encode() in payload.data
