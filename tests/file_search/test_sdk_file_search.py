"""The official `openai` SDK over a real socket: an assistant with file_search answers with a
`file_citation` (the echo responder's `search:` trigger); attachments create the thread's store."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.file_search.helpers import DOCS, INCLUDE
from threadloom.threads_server.testing import running_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def _upload(client: openai.AsyncOpenAI, *names: str) -> dict[str, str]:
    found = {}
    for name in names:
        made = await client.files.create(file=(name, DOCS[name].encode()), purpose="assistants")
        found[name] = made.id
    return found


async def _store_files(client: openai.AsyncOpenAI, store_id: str) -> list[str]:
    page = await client.vector_stores.files.list(store_id, order="asc")
    return [item.id for item in page.data]


def _reply(messages):  # type: ignore[no-untyped-def]
    (message,) = [m for m in messages.data if m.role == "assistant"]
    return message.content[0].text


async def test_an_assistant_with_file_search_answers_with_a_file_citation(db) -> None:
    async with running_server(db, poll_after_ms=20) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        beta = client.beta
        files = await _upload(client, "bikes.md", "garden.txt", "kettle.txt")
        store = await client.vector_stores.create(name="house", file_ids=list(files.values()))
        for _ in range(200):
            if store.status == "completed":
                break
            await asyncio.sleep(0.02)
            store = await client.vector_stores.retrieve(store.id)
        assert store.file_counts.completed == 3
        store_id = store.id
        assistant = await beta.assistants.create(
            model="echo",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store_id]}},
        )
        assert assistant.tool_resources.file_search.vector_store_ids == [store_id]
        thread = await beta.threads.create(
            messages=[{"role": "user", "content": "search: how often should I oil the chain?"}]
        )
        run = await beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "completed"

        text = _reply(await beta.threads.messages.list(thread.id, run_id=run.id))
        assert text.value.startswith("Echo: search: how often should I oil the chain?\nFrom bikes.md: ")
        assert "Oil the chain every two hundred kilometres." in text.value
        (citation,) = text.annotations
        assert citation.type == "file_citation"
        assert citation.file_citation.file_id == files["bikes.md"]
        assert text.value[citation.start_index : citation.end_index] == citation.text
        assert citation.text == "【0:0†bikes.md】"

        steps = await beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
        assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]
        (call,) = steps.data[0].step_details.tool_calls
        assert call.type == "file_search"
        results = call.file_search.results
        assert results[0].file_id == files["bikes.md"] and results[0].file_name == "bikes.md"
        assert 0 < results[0].score <= 1 and results[0].content is None
        full = await beta.threads.runs.steps.retrieve(
            steps.data[0].id, thread_id=thread.id, run_id=run.id, include=[INCLUDE]
        )
        assert "Oil the chain" in full.step_details.tool_calls[0].file_search.results[0].content[0].text
        listed = await beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[INCLUDE])
        assert any(
            r.content for s in listed.data if s.type == "tool_calls"
            for c in s.step_details.tool_calls for r in c.file_search.results
        )  # fmt: skip

        # Nothing matches: the reply says so, cites nothing, and the step shows an empty search.
        await beta.threads.messages.create(thread.id, role="user", content="search: zeppelin")
        run = await beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        text = _reply(await beta.threads.messages.list(thread.id, run_id=run.id))
        assert text.value.endswith('No results for "zeppelin".') and text.annotations == []


async def test_attachments_create_the_threads_store_and_later_ones_join_it(db) -> None:
    async with running_server(db, poll_after_ms=20) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        beta = client.beta
        files = await _upload(client, "garden.txt", "kettle.txt")
        assistant = await beta.assistants.create(model="echo", tools=[{"type": "file_search"}])
        thread = await beta.threads.create()
        assert thread.tool_resources.file_search is None

        attach = [{"file_id": files["garden.txt"], "tools": [{"type": "file_search"}]}]
        await beta.threads.messages.create(
            thread.id, role="user", content="search: when to prune roses", attachments=attach
        )
        stores = (await beta.threads.retrieve(thread.id)).tool_resources.file_search.vector_store_ids
        assert len(stores) == 1
        assert await _store_files(client, stores[0]) == [files["garden.txt"]]
        made = await client.vector_stores.retrieve(stores[0])
        assert made.expires_after.anchor == "last_active_at" and made.expires_after.days == 7
        # The run waits for the thread's store to be ready (no explicit wait here).
        run = await beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        text = _reply(await beta.threads.messages.list(thread.id, run_id=run.id))
        assert "Prune the roses in late winter" in text.value
        assert text.annotations[0].file_citation.file_id == files["garden.txt"]

        # A second attachment, posted with the run: the same store, now with both files.
        run = await beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            additional_messages=[
                {
                    "role": "user",
                    "content": "search: descale the kettle",
                    "attachments": [
                        {"file_id": files["kettle.txt"], "tools": [{"type": "file_search"}]}
                    ],
                }
            ],
        )
        again = (await beta.threads.retrieve(thread.id)).tool_resources.file_search.vector_store_ids
        assert again == stores
        assert await _store_files(client, stores[0]) == [files["garden.txt"], files["kettle.txt"]]
        text = _reply(await beta.threads.messages.list(thread.id, run_id=run.id))
        assert "Descale the kettle with vinegar" in text.value
        assert text.annotations[0].file_citation.file_id == files["kettle.txt"]
