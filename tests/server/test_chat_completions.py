"""The chat-completions responder against a fake OpenAI-compatible server on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.server.helpers import Api
from threadloom.threads_server.settings import LLMSettings
from threadloom.threads_server.testing import serve


class FakeChat:
    """Answers `/chat/completions` from a script and records the requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.complete)

    async def complete(self, request: Request) -> JSONResponse:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        status, body = self.script.pop(0)
        return JSONResponse(body, status_code=status)

    def answer(
        self, message: dict[str, Any], finish: str = "stop", usage: tuple[int, int] = (7, 3)
    ) -> None:
        self.script.append(
            (
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {
                        "prompt_tokens": usage[0],
                        "completion_tokens": usage[1],
                        "total_tokens": sum(usage),
                    },
                },
            )
        )


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeChat, str]]:
    chat = FakeChat()
    async with serve(chat.app) as root:
        yield chat, f"{root}/v1"


async def test_reply_tools_and_limits(make_api, fake: tuple[FakeChat, str]) -> None:
    chat, base_url = fake
    llm = LLMSettings(base_url=base_url, api_key="upstream-key")
    api: Api
    async with make_api(llm=llm) as api:
        assistant = await api.assistant(model="gpt-test", instructions="Be helpful.")
        thread = await api.thread("What is 2+2?")

        chat.answer({"role": "assistant", "content": "It is 4."})
        run = await api.wait(
            await api.run(
                thread["id"], assistant["id"], additional_instructions="Be brief.", temperature=0.2
            )
        )
        assert run["status"] == "completed"
        assert run["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        assert await api.reply_text(thread["id"], run["id"]) == "It is 4."
        sent = chat.requests[-1]
        assert sent["model"] == "gpt-test" and sent["temperature"] == 0.2
        assert sent["messages"] == [
            {"role": "system", "content": "Be helpful.\n\nBe brief."},
            {"role": "user", "content": "What is 2+2?"},
        ]
        assert [t["function"]["name"] for t in sent["tools"]] == ["add", "lookup"]
        assert chat.headers[-1]["authorization"] == "Bearer upstream-key"

        await api.ok(
            "POST", f"/threads/{thread['id']}/messages", json={"role": "user", "content": "Look it up"}
        )
        chat.answer(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "up_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                    }
                ],
            },
            finish="tool_calls",
        )
        run = await api.wait(await api.run(thread["id"], assistant["id"]))
        assert run["status"] == "requires_action"
        (call,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
        assert call["function"] == {"name": "lookup", "arguments": '{"q":"x"}'}
        chat.answer({"role": "assistant", "content": "Found x."})
        run = await api.ok(
            "POST",
            f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs",
            json={"tool_outputs": [{"tool_call_id": call["id"], "output": "x=1"}]},
        )
        run = await api.wait(run)
        assert run["status"] == "completed" and run["usage"]["total_tokens"] == 20
        replayed = chat.requests[-1]["messages"][-2:]
        assert replayed[0]["role"] == "assistant"
        assert replayed[0]["tool_calls"][0]["id"] == call["id"]
        assert replayed[1] == {"role": "tool", "tool_call_id": call["id"], "content": "x=1"}

        chat.answer({"role": "assistant", "content": "A long"}, finish="length")
        run = await api.wait(await api.run(thread["id"], assistant["id"], max_completion_tokens=300))
        assert run["status"] == "incomplete"
        assert run["incomplete_details"] == {"reason": "max_completion_tokens"}
        assert chat.requests[-1]["max_tokens"] == 300

        chat.script.append((429, {"error": {"message": "slow down"}}))
        run = await api.wait(await api.run(thread["id"], assistant["id"]))
        assert run["status"] == "failed" and run["last_error"]["code"] == "rate_limit_exceeded"
        chat.script.append((500, {"error": {"message": "boom"}}))
        run = await api.wait(await api.run(thread["id"], assistant["id"]))
        assert run["status"] == "failed" and run["last_error"]["code"] == "server_error"

        # Model `echo` stays on the echo responder even with a model configured.
        calls_before = len(chat.requests)
        echo = await api.assistant()
        run = await api.wait(await api.run(thread["id"], echo["id"]))
        assert await api.reply_text(thread["id"], run["id"]) == "Echo: Look it up"
        assert len(chat.requests) == calls_before
