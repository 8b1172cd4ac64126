"""The chat-completions responder with file_search, against a fake chat-completions server on a real
socket: the model is offered the search tool, its searches are made and answered, and the markers it
copies become `file_citation`s."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.file_search.helpers import INCLUDE, ready, upload
from tests.server.helpers import Api
from tests.server.test_chat_completions import FakeChat
from threadloom.threads_server import retrieval
from threadloom.threads_server.settings import LLMSettings
from threadloom.threads_server.testing import serve


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeChat, str]]:
    chat = FakeChat()
    async with serve(chat.app) as root:
        yield chat, f"{root}/v1"


def _search_call(query: str, call_id: str = "c1") -> dict:
    arguments = json.dumps({"query": query})
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "file_search", "arguments": arguments},
            }
        ],
    }


async def test_the_model_searches_reads_the_results_and_cites_them(make_api, fake) -> None:
    chat, base_url = fake
    api: Api
    async with make_api(llm=LLMSettings(base_url=base_url)) as api:
        database = api.app.state.services.db
        files = await upload(database, "bikes.md", "garden.txt")
        store_id = await retrieval.create_vector_store(database, file_ids=list(files.values()))
        await ready(database, store_id)
        assistant = await api.assistant(
            model="gpt-test",
            instructions="Be brief.",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store_id]}},
        )
        thread = await api.thread("How often should I oil my bike chain?")

        chat.answer(_search_call("oil bike chain"))
        chat.answer(_search_call("zeppelin", "c2"))
        chat.answer(
            {"role": "assistant", "content": "Every 200 km【0:0†bikes.md】, says the manual【9:9†x】."}
        )
        run = await api.wait(await api.run(thread["id"], assistant["id"]))
        assert run["status"] == "completed"
        assert run["usage"] == {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}

        first, second, third = chat.requests
        assert [t["function"]["name"] for t in first["tools"]] == ["file_search"]
        assert first["messages"][0] == {"role": "system", "content": "Be brief."}
        assert "【0:1†notes.md】" in first["messages"][1]["content"]  # how to cite
        tool_message = second["messages"][-1]
        assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "search_0"
        assert tool_message["content"].startswith("【0:0†bikes.md】\n# Bicycles")
        assert "Oil the chain every two hundred kilometres." in tool_message["content"]
        assert third["messages"][-1]["content"] == "No results."
        assert third["tool_choice"] == "auto" or "tool_choice" not in third

        (reply,) = await api.messages(thread["id"], run_id=run["id"])
        text = reply["content"][0]["text"]
        (citation,) = text["annotations"]  # 【9:9†x】 names no result: no annotation
        assert citation["file_citation"] == {"file_id": files["bikes.md"]}
        assert text["value"][citation["start_index"] : citation["end_index"]] == "【0:0†bikes.md】"

        path = f"/threads/{thread['id']}/runs/{run['id']}/steps"
        steps = (await api.ok("GET", path, params={"order": "asc", "include[]": INCLUDE}))["data"]
        assert [s["type"] for s in steps] == ["tool_calls", "message_creation"]
        searched, empty = steps[0]["step_details"]["tool_calls"]
        assert searched["file_search"]["results"][0]["file_name"] == "bikes.md"
        assert "Oil the chain" in searched["file_search"]["results"][0]["content"][0]["text"]
        assert empty["file_search"]["results"] == []


async def test_the_last_round_may_not_search_again(make_api, fake) -> None:
    chat, base_url = fake
    async with make_api(llm=LLMSettings(base_url=base_url)) as api:
        assistant = await api.assistant(model="gpt-test", tools=[{"type": "file_search"}])
        thread = await api.thread("Search forever")
        for number in range(3):
            chat.answer(_search_call(f"q{number}", f"c{number}"))
        chat.answer({"role": "assistant", "content": "Nothing found."})
        run = await api.wait(await api.run(thread["id"], assistant["id"]))
        assert run["status"] == "completed"
        assert chat.requests[-1]["tool_choice"] == "none"
        assert await api.reply_text(thread["id"], run["id"]) == "Nothing found."
