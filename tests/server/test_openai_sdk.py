"""The official `openai` SDK drives the server over real HTTP through `client.beta.threads`."""

from __future__ import annotations

import warnings

import openai
import pytest
from openai.lib.streaming import AsyncAssistantEventHandler

from threadloom.threads_server.testing import running_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


class TextCollector(AsyncAssistantEventHandler):
    """Collects text deltas and the events seen."""

    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.events: list[str] = []

    async def on_event(self, event) -> None:  # type: ignore[no-untyped-def]
        self.events.append(event.event)

    async def on_text_delta(self, delta, snapshot) -> None:  # type: ignore[no-untyped-def]
        self.deltas.append(delta.value or "")


async def test_openai_sdk_beta_threads(db) -> None:
    warnings.simplefilter("ignore", DeprecationWarning)
    async with running_server(db, api_key="sk-test", poll_after_ms=20) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        beta = client.beta
        assistant = await beta.assistants.create(model="echo", name="sdk", tools=[LOOKUP])
        thread = await beta.threads.create(messages=[{"role": "user", "content": "first"}])
        await beta.threads.messages.create(thread.id, role="user", content="hello sdk")

        run = await beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "completed" and run.usage is not None
        page = await beta.threads.messages.list(thread.id, run_id=run.id)
        assert page.data[0].content[0].text.value == "Echo: hello sdk"
        assert page.data[0].run_id == run.id and page.data[0].assistant_id == assistant.id

        await beta.threads.messages.create(thread.id, role="user", content="stream me some words now")
        handler = TextCollector()
        async with beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
        ) as stream:
            await stream.until_done()
        assert "".join(handler.deltas) == "Echo: stream me some words now"
        assert handler.events[0] == "thread.run.created"
        assert handler.events[-1] == "thread.run.completed"
        final = await stream.get_final_messages()
        assert final[0].content[0].text.value == "Echo: stream me some words now"

        await beta.threads.messages.create(
            thread.id, role="user", content='use the tool\n/tool lookup {"q": "answer"}'
        )
        run = await beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "requires_action"
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [(c.function.name, c.function.arguments) for c in calls] == [
            ("lookup", '{"q": "answer"}')
        ]
        run = await beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": calls[0].id, "output": "42"}],
        )
        assert run.status == "completed"
        page = await beta.threads.messages.list(thread.id, run_id=run.id)
        assert page.data[0].content[0].text.value == "Echo: use the tool\n[lookup] 42"
        steps = [step async for step in beta.threads.runs.steps.list(run.id, thread_id=thread.id)]
        assert {step.type for step in steps} == {"tool_calls", "message_creation"}

        # Auto-pagination across pages of two.
        texts = [
            message.content[0].text.value
            async for message in beta.threads.messages.list(thread.id, order="asc", limit=2)
        ]
        assert texts == [
            "first",
            "hello sdk",
            "Echo: hello sdk",
            "stream me some words now",
            "Echo: stream me some words now",
            'use the tool\n/tool lookup {"q": "answer"}',
            "Echo: use the tool\n[lookup] 42",
        ]
        runs = [r.id async for r in beta.threads.runs.list(thread.id, limit=1)]
        assert len(runs) == 3

        with pytest.raises(openai.NotFoundError):
            await beta.threads.retrieve("thread_missing")
        with pytest.raises(openai.BadRequestError):
            await beta.threads.messages.create(thread.id, role="user", content="")
        deleted = await beta.threads.delete(thread.id)
        assert deleted.deleted
        await client.close()

        bad = openai.AsyncOpenAI(base_url=server.base_url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await bad.beta.threads.create()
        await bad.close()
