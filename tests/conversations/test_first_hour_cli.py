"""The first-hour commands against the real servers: `threadloom assistants …`, and `send` printing the
new thread's id and writing nothing for an assistant that does not exist."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.assistants import assistants_command
from threadloom.starter.cli import build_parser
from threadloom.starter.send import send_command
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient


@pytest.fixture
def settings(temporal_env: WorkflowEnvironment, threads_server: Any, task_queue: str) -> Settings:
    return Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        threads_base_url=threads_server.base_url,
        task_queue=task_queue,
    )


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


async def test_assistants_create_list_show_delete(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"support-{uuid.uuid4().hex[:6]}"
    create = parse("assistants", "create", "--name", name, "--instructions", "Be brief.",
                   "--tool", "get_weather", "--tool", "file_search")  # fmt: skip
    assert await assistants_command(create, settings) == 0
    out, err = capsys.readouterr()
    assistant_id = out.strip()
    assert assistant_id.startswith("asst_") and "\n" not in assistant_id
    assert f"created {assistant_id}  model echo  name '{name}'" in err

    assert await assistants_command(parse("assistants", "list"), settings) == 0
    listed = capsys.readouterr().out
    assert f"{assistant_id}  model echo  name '{name}'  tools get_weather, file_search" in listed

    assert await assistants_command(parse("assistants", "show", assistant_id), settings) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["name"], shown["instructions"]) == (name, "Be brief.")
    assert shown["tools"][0]["function"]["name"] == "get_weather"
    assert "city" in shown["tools"][0]["function"]["parameters"]["properties"]

    assert await assistants_command(parse("assistants", "delete", assistant_id), settings) == 0
    assert capsys.readouterr().out == f"deleted {assistant_id}\n"
    assert await assistants_command(parse("assistants", "show", assistant_id), settings) == 1
    assert capsys.readouterr().err == f"AssistantNotFound: no assistant {assistant_id}\n"


async def test_assistants_create_names_the_tools_it_knows(settings: Settings) -> None:
    with pytest.raises(SystemExit, match="unknown tool 'nope'; known: code_interpreter"):
        await assistants_command(parse("assistants", "create", "--tool", "nope"), settings)


@pytest.mark.usefixtures("engine_worker")
async def test_send_json_carries_the_new_threads_id(
    settings: Settings, assistant_id: str, threads: ThreadsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await send_command(parse("send", "hi", "--assistant", assistant_id, "--json"), settings) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["reply"] == "Echo: hi"
    assert err == f"new thread {printed['thread_id']}\n"
    texts = [m.content[0].text.value async for m in threads.threads.messages.list(printed["thread_id"])]  # type: ignore[union-attr]
    assert texts == ["Echo: hi", "hi"]


@pytest.mark.usefixtures("engine_worker")
async def test_send_json_to_a_conversation_carries_its_thread_id(
    settings: Settings, assistant_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["send", "hi", "--assistant", assistant_id, "--conversation", uuid.uuid4().hex, "--json"]
    assert await send_command(parse(*argv), settings) == 0
    assert json.loads(capsys.readouterr().out)["thread_id"].startswith("thread_")


async def test_send_to_an_unknown_assistant_writes_nothing(
    settings: Settings, threads_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async def posts() -> dict[str, int]:
        async with httpx.AsyncClient(base_url=threads_server.root_url) as http:
            routes = (await http.get("/_threadloom/stats")).json()["requests"]["by_route"]
        return {route: count for route, count in routes.items() if route.startswith("POST")}

    before = await posts()
    for extra in ([], ["--conversation", uuid.uuid4().hex]):
        argv = ["send", "hi", "--assistant", "asst_doesnotexist", *extra]
        assert await send_command(parse(*argv), settings) == 1
        assert capsys.readouterr().err.startswith("AssistantNotFound: no assistant asst_doesnotexist")
    assert await posts() == before, "no thread, message or run is created"
