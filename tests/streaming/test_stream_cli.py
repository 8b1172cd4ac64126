"""`threadloom send --stream` and the streaming `threadloom chat`."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.chat import chat_command
from threadloom.starter.cli import build_parser
from threadloom.starter.send import send_command
from threadloom.starter.settings import Settings
from threadloom.starter.stream_events import TextDelta, TurnFinished, event_from_json

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


async def test_send_stream_prints_the_reply_and_json_lines_carry_the_events(
    settings: Settings, assistant_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = " ".join(f"w{i}" for i in range(30))
    assert (
        await send_command(parse("send", text, "--assistant", assistant_id, "--stream"), settings) == 0
    )
    assert capsys.readouterr().out == f"Echo: {text}\n"

    argv = ["send", text, "--assistant", assistant_id, "--stream", "--json"]
    assert await send_command(parse(*argv), settings) == 0
    events = [event_from_json(json.loads(line)) for line in capsys.readouterr().out.splitlines()]
    assert isinstance(events[-1], TurnFinished)
    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == events[-1].result.reply == f"Echo: {text}"


async def test_send_stream_of_a_turn_that_fails_prints_its_error(
    settings: Settings, assistant_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["send", "x", "--assistant", "asst_missing", "--stream"]
    assert await send_command(parse(*argv), settings) == 1
    assert "AssistantNotFound" in capsys.readouterr().err


async def test_chat_streams_its_replies_unless_told_not_to(
    settings: Settings,
    assistant_id: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\nAgain\n/quit\n"))
    assert await chat_command(parse("chat", "--assistant", assistant_id), settings) == 0
    out = capsys.readouterr().out
    assert "assistant> Echo: Hello\n" in out and "assistant> Echo: Again\n" in out

    monkeypatch.setattr("sys.stdin", io.StringIO("Plain\n/quit\n"))
    args = parse("chat", "--assistant", assistant_id, "--no-stream")
    assert await chat_command(args, settings) == 0
    assert "assistant> Echo: Plain\n" in capsys.readouterr().out
