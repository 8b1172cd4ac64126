"""The official `openai` SDK's stream handlers over real HTTP, repeated while the machine is busy.

The SDK adds every delta onto the snapshot the matching `created` event gave it. A `created` event
that already holds the call or the text (published as a reference, serialized later, or sent in full
and repeated in the delta) makes handlers see ids, names and arguments twice, and text doubled.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.lib.streaming import AsyncAssistantEventHandler

from threadloom.threads_server.testing import running_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROUNDS = 12
WORDS = " ".join(f"word{i}" for i in range(120))
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("lookup", "add")
]


class Recorder(AsyncAssistantEventHandler):
    """What a user's handler sees: tool calls created and done, texts created, deltas, messages."""

    def __init__(self) -> None:
        super().__init__()
        self.calls_created: list[tuple[str, str, str]] = []
        self.calls_done: list[tuple[str, str, str]] = []
        self.texts_created = 0
        self.deltas: list[str] = []
        self.final_texts: list[str] = []

    @staticmethod
    def _call(tool_call: Any) -> tuple[str, str, str]:
        return tool_call.id, tool_call.function.name, tool_call.function.arguments

    async def on_tool_call_created(self, tool_call) -> None:  # type: ignore[no-untyped-def]
        self.calls_created.append(self._call(tool_call))

    async def on_tool_call_done(self, tool_call) -> None:  # type: ignore[no-untyped-def]
        self.calls_done.append(self._call(tool_call))

    async def on_text_created(self, text) -> None:  # type: ignore[no-untyped-def]
        self.texts_created += 1

    async def on_text_delta(self, delta, snapshot) -> None:  # type: ignore[no-untyped-def]
        self.deltas.append(delta.value or "")

    async def on_message_done(self, message) -> None:  # type: ignore[no-untyped-def]
        self.final_texts.append(message.content[0].text.value)


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """One CPU-burning process per core for the test's duration: the race needs load to show."""
    burn = "while True: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=10)


async def test_sdk_handlers_see_each_call_and_text_once(db, busy_machine: None) -> None:
    warnings.simplefilter("ignore", DeprecationWarning)
    async with running_server(db, stream_delta_words=1) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=30)
        threads = client.beta.threads
        assistant = await client.beta.assistants.create(model="echo", tools=TOOLS)
        for round_ in range(ROUNDS):
            content = f'{WORDS}\n/tool lookup {{"q": "cats {round_}"}}\n/tool add {{"a": {round_}}}'
            thread = await threads.create(messages=[{"role": "user", "content": content}])
            asked = Recorder()
            async with threads.runs.stream(
                thread_id=thread.id, assistant_id=assistant.id, event_handler=asked
            ) as stream:
                await stream.until_done()
            run = stream.current_run
            assert run is not None and run.status == "requires_action"
            expected = [
                (call.id, call.function.name, call.function.arguments)
                for call in run.required_action.submit_tool_outputs.tool_calls
            ]
            assert [name for _, name, _ in expected] == ["lookup", "add"]
            assert asked.calls_created == expected, f"round {round_}"
            assert asked.calls_done == expected, f"round {round_}"
            assert [json.loads(arguments) for _, _, arguments in asked.calls_created] == [
                {"q": f"cats {round_}"},
                {"a": round_},
            ]

            outputs = [{"tool_call_id": c[0], "output": f"out{i}"} for i, c in enumerate(expected)]
            answered = Recorder()
            async with threads.runs.submit_tool_outputs_stream(
                thread_id=thread.id,
                run_id=run.id,
                tool_outputs=outputs,
                event_handler=answered,
            ) as stream:
                await stream.until_done()
            reply = f"Echo: {WORDS}\n[lookup] out0\n[add] out1"
            assert answered.texts_created == 1, f"round {round_}"
            assert "".join(answered.deltas) == reply, f"round {round_}"
            assert answered.final_texts == [reply]
            assert len(answered.deltas) > 100  # one delta per word
            stored = await threads.messages.list(thread.id, run_id=run.id)
            assert stored.data[0].content[0].text.value == reply
        await client.close()
