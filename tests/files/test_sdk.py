"""The official `openai` SDK drives the Files and Vector Stores API over a real socket, on both
backends, with every answer validated against the spec excerpt (`tests/files/spec.py`)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest

from tests.files.pdf import one_page_pdf
from threadloom.threads_server.testing import running_server

DOCS: dict[str, bytes] = {
    "kettle.txt": b"The kettle boils water in three minutes. Descale the kettle with vinegar monthly.",
    "bikes.md": b"# Bicycles\n\nPump the tyres to four bar. Oil the chain every two hundred kilometres.",
    "garden.html": b"<html><head><style>p{color:red}</style></head><body><h1>Garden</h1>"
    b"<p>Water the tomatoes at dawn; prune the roses in late winter.</p></body></html>",
    "harbour.pdf": one_page_pdf("The lighthouse keeper logs every ship that enters the harbour"),
    "notes.json": b'{"topic": "astronomy", "note": "Jupiter has the largest moons of any planet"}',
}


@asynccontextmanager
async def sdk(db: Any, spec: Any, **settings: Any) -> Any:
    """A server on `db` and an `AsyncOpenAI` client whose every answer is validated."""
    async with running_server(db, api_key="sk-test", **settings) as server:
        http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [spec.hook()]})
        client = openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0, http_client=http
        )
        async with client:
            yield client, server


async def completed(client: openai.AsyncOpenAI, store_id: str) -> Any:
    """The store once no file is in progress."""
    for _ in range(300):
        store = await client.vector_stores.retrieve(store_id)
        if store.status == "completed":
            return store
        await asyncio.sleep(0.02)
    raise AssertionError(f"store stayed {store.status}: {store.file_counts}")


async def test_files_and_vector_stores_through_the_sdk(db, files_spec) -> None:
    async with sdk(db, files_spec) as (client, _server):
        uploaded = {
            name: await client.files.create(file=(name, content), purpose="assistants")
            for name, content in DOCS.items()
        }
        kettle = uploaded["kettle.txt"]
        assert (kettle.filename, kettle.bytes, kettle.purpose) == ("kettle.txt", 81, "assistants")
        assert (await client.files.retrieve(kettle.id)).id == kettle.id
        assert (await client.files.content(kettle.id)).content == DOCS["kettle.txt"]
        listed = [f.id async for f in client.files.list()]
        assert listed == [f.id for f in reversed(uploaded.values())]  # newest first

        store = await client.vector_stores.create(
            name="house", file_ids=[kettle.id], metadata={"team": "ops"}
        )
        assert store.name == "house" and store.file_counts.total == 1
        store = await completed(client, store.id)
        assert store.file_counts.completed == 1 and store.usage_bytes > 0

        others = [uploaded[name] for name in ("bikes.md", "garden.html", "harbour.pdf")]
        batch = await client.vector_stores.file_batches.upload_and_poll(
            store.id,
            files=[("recipe.txt", b"Knead the dough for ten minutes, then let it rise.")],
            file_ids=[f.id for f in others],
            poll_interval_ms=20,
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20},
            },
        )
        assert batch.status == "completed" and batch.file_counts.completed == 4
        batch_files = [
            f
            async for f in client.vector_stores.file_batches.list_files(
                batch.id, vector_store_id=store.id
            )
        ]
        assert len(batch_files) == 4
        assert batch_files[0].chunking_strategy.static.max_chunk_size_tokens == 100
        store = await completed(client, store.id)
        assert store.file_counts.completed == 5

        async def top(query: str, **options: Any) -> list[Any]:
            page = await client.vector_stores.search(store.id, query=query, **options)
            return list(page.data)

        cases = {
            "how often do I oil the bicycle chain?": "bikes.md",
            "when should roses be pruned": "garden.html",
            "who records ships entering the harbour": "harbour.pdf",
            "descaling with vinegar": "kettle.txt",
            "how long to knead dough": "recipe.txt",
        }
        for query, expected in cases.items():
            hits = await top(query)
            assert hits and hits[0].filename == expected, (query, [h.filename for h in hits])
            assert 0 < hits[0].score <= 1 and hits[0].content[0].text
        assert "style" not in (await top("garden tomatoes"))[0].content[0].text
        assert len(await top("water", max_num_results=1)) == 1
        assert await top("water", ranking_options={"score_threshold": 0.9999}) == []

        bikes = uploaded["bikes.md"]
        updated = await client.vector_stores.files.update(
            bikes.id, vector_store_id=store.id, attributes={"kind": "manual", "year": 2024}
        )
        assert updated.attributes == {"kind": "manual", "year": 2024}
        hits = await top("water chain", filters={"type": "eq", "key": "kind", "value": "manual"})
        assert [h.filename for h in hits] == ["bikes.md"] and hits[0].attributes["year"] == 2024
        content = await client.vector_stores.files.content(bikes.id, vector_store_id=store.id)
        assert "Oil the chain" in content.data[0].text

        listed_files = [f async for f in client.vector_stores.files.list(store.id)]
        assert len(listed_files) == 5
        # Deleting a file removes it from every store; removing it from a store keeps the file.
        assert (await client.files.delete(kettle.id)).deleted
        assert all(h.filename != "kettle.txt" for h in await top("kettle vinegar"))
        removed = await client.vector_stores.files.delete(bikes.id, vector_store_id=store.id)
        assert removed.deleted and (await client.files.retrieve(bikes.id)).id == bikes.id
        store = await client.vector_stores.retrieve(store.id)
        assert store.file_counts.total == 3

        renamed = await client.vector_stores.update(
            store.id, name="home", expires_after={"anchor": "last_active_at", "days": 2}
        )
        assert renamed.name == "home"
        assert renamed.expires_at == renamed.last_active_at + 2 * 86_400
        assert [s.id async for s in client.vector_stores.list()] == [store.id]
        assert (await client.vector_stores.delete(store.id)).deleted
        with pytest.raises(openai.NotFoundError):
            await client.vector_stores.retrieve(store.id)
    assert files_spec.counts["VectorStoreSearchResultsPage"] > 0
