"""The weather example against a chat-completions model: a fake OpenAI-compatible server scripts
the model's answers; the threads server's chat-completions responder, the worker's registry and the
turn do the rest, as they would with a real model."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.server.test_chat_completions import FakeChat
from threadloom.starter.api import Threadloom
from threadloom.starter.demo_tools import registry
from threadloom.threads_client import ThreadsClient
from threadloom.threads_server.settings import LLMSettings
from threadloom.threads_server.testing import running_server, serve
from threadloom.worker import build_worker
from threadloom.workflows.contracts import TurnRequest, UserMessage


async def test_weather_tool_with_a_chat_completions_model(
    temporal_env: WorkflowEnvironment, loom: Threadloom, task_queue: str, tmp_path: Path
) -> None:
    chat = FakeChat()
    call = {"name": "get_weather", "arguments": json.dumps({"city": "Lisbon"})}
    chat.answer(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": call}],
        },
        finish="tool_calls",
    )
    chat.answer({"role": "assistant", "content": "Sunny and 24°C in Lisbon."})
    async with (
        serve(chat.app) as model_root,
        running_server(tmp_path, llm=LLMSettings(base_url=f"{model_root}/v1")) as server,
        ThreadsClient(server.base_url, max_retries=0) as threads,
        build_worker(temporal_env.client, threads, task_queue=task_queue, tools=registry),
    ):
        assistant = await threads.assistants.create(model="gpt-test", instructions="Use tools.")
        thread = await threads.threads.create()
        result = await loom.run_turn(
            TurnRequest(
                thread_id=thread.id,
                assistant_id=assistant.id,
                message=UserMessage(text="What's the weather in Lisbon?"),
                tools=["get_weather"],
            )
        )

    assert result.reply == "Sunny and 24°C in Lisbon."
    first, second = chat.requests
    (tool,) = first["tools"]
    assert tool["function"]["name"] == "get_weather"
    assert tool["function"]["parameters"]["required"] == ["city"]
    answered = second["messages"][-1]
    assert (answered["role"], answered["content"]) == ("tool", "Lisbon: sunny, 24°C")
