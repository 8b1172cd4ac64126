"""The command line of conversations: `send --conversation`, `chat`, `schema`, and a turn started
by workflow type name from the `temporal` CLI (as a non-Python backend would)."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.chat import chat_command
from threadloom.starter.cli import build_parser
from threadloom.starter.schema import schema_command
from threadloom.starter.send import send_command
from threadloom.starter.settings import Settings
from threadloom.starter.temporal_binary import find_temporal_binary

pytestmark = pytest.mark.usefixtures("engine_worker")


@pytest.fixture
def settings(temporal_env: WorkflowEnvironment, threads_server: Any, task_queue: str) -> Settings:
    return Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        threads_base_url=threads_server.base_url,
        task_queue=task_queue,
    )


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


async def test_send_to_a_conversation_twice_with_one_key(
    settings: Settings, assistant_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    conversation = f"cli-{uuid.uuid4().hex[:8]}"
    argv = ["send", "hi there", "--assistant", assistant_id, "--conversation", conversation]
    assert await send_command(parse(*argv, "--turn-key", "t1", "--json"), settings) == 0
    first = json.loads(capsys.readouterr().out)
    assert await send_command(parse(*argv, "--turn-key", "t1", "--json"), settings) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert first["reply"] == "Echo: hi there"
    assert (
        await send_command(
            parse("send", " ", "--assistant", assistant_id, "--conversation", conversation), settings
        )
        == 2
    )


async def test_chat_reads_lines_until_quit(
    settings: Settings,
    assistant_id: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n\nSecond line\n/quit\nnever sent\n"))
    args = parse("chat", "--assistant", assistant_id)
    assert await chat_command(args, settings) == 0
    out = capsys.readouterr().out
    assert "assistant> Echo: Hello" in out
    assert "assistant> Echo: Second line" in out
    assert "never sent" not in out


async def test_schema_lists_the_contracts(capsys: pytest.CaptureFixture[str]) -> None:
    assert await schema_command(parse("schema"), Settings()) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"TurnRequest", "TurnResult", "SendTurn", "ConversationInput"} <= set(printed["schemas"])
    assert printed["workflows"]["ConversationWorkflow"]["updates"]["send_turn"] == [
        "SendTurn",
        "TurnResult",
    ]
    assert await schema_command(parse("schema", "TurnRequest"), Settings()) == 0
    assert "thread_id" in json.loads(capsys.readouterr().out)["required"]


async def temporal_cli(settings: Settings, *args: str) -> str:
    """Run the `temporal` CLI against the test server; its stdout."""
    process = await asyncio.create_subprocess_exec(
        find_temporal_binary(),
        *args,
        "--address",
        settings.temporal_address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_turn_started_by_type_name_from_the_temporal_cli(
    settings: Settings, loom: Threadloom, thread_id: str, assistant_id: str, task_queue: str
) -> None:
    payload = {
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "message": {"text": "from the CLI"},
        "turn_key": "cli1",
    }
    await temporal_cli(
        settings,
        "workflow",
        "start",
        "--type",
        "TurnWorkflow",
        "--task-queue",
        task_queue,
        "--workflow-id",
        f"turn-{thread_id}-cli1",
        "--input",
        json.dumps(payload),
    )
    result = await loom.get_handle(thread_id=thread_id, turn_key="cli1").result()
    assert result.reply == "Echo: from the CLI"


async def test_a_conversation_turn_by_update_with_start_from_the_temporal_cli(
    settings: Settings, assistant_id: str, task_queue: str
) -> None:
    conversation = f"cli-{uuid.uuid4().hex[:8]}"
    out = await temporal_cli(
        settings,
        "workflow",
        "execute-update-with-start",
        "--type",
        "ConversationWorkflow",
        "--task-queue",
        task_queue,
        "--workflow-id",
        f"conversation-{conversation}",
        "--id-conflict-policy",
        "UseExisting",
        "--input",
        json.dumps({"conversation_id": conversation, "assistant_id": assistant_id}),
        "--update-name",
        "send_turn",
        "--update-id",
        "u1",
        "--update-input",
        json.dumps({"turn_key": "u1", "message": {"text": "hello by update"}}),
        "--output",
        "json",
    )
    assert "Echo: hello by update" in out
