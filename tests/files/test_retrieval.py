"""`threads_server.retrieval` on both backends: stores created from files, ingested in the
background, searched lexically; ids checked."""

from __future__ import annotations

import asyncio

import pytest

from threadloom.threads_server import retrieval
from threadloom.threads_server.errors import APIError
from threadloom.threads_server.files.uploads import upload_file
from threadloom.threads_server.testing import app_client

DOCS = {
    "kettle.txt": "The kettle boils water in three minutes. Descale the kettle with vinegar monthly.",
    "bikes.md": "# Bicycles\nPump the tyres to four bar. Oil the chain every two hundred kilometres.",
    "garden.txt": "Water the tomatoes at dawn. Prune the roses in late winter before new growth.",
}


async def _ready(db, store_id: str) -> None:
    for _ in range(200):
        if await retrieval.files_in_progress(db, store_id) == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("ingestion did not finish")


async def test_search_ranks_the_right_document_first(db) -> None:
    async with app_client(db) as (_client, app):
        database = app.state.services.db
        files = {
            name: await upload_file(database, name, text.encode(), max_bytes=1 << 20)
            for name, text in DOCS.items()
        }
        ids = [f["id"] for f in files.values()]
        assert await retrieval.missing_files(database, [*ids, "file-nope"]) == ["file-nope"]
        store_id = await retrieval.create_vector_store(database, file_ids=ids, name="house")
        assert await retrieval.missing_vector_stores(database, [store_id, "vs_nope"]) == ["vs_nope"]
        await _ready(database, store_id)

        hits = await retrieval.search(database, [store_id], "how often should I oil my bike chain?")
        assert hits and hits[0].filename == "bikes.md" and hits[0].file_id == files["bikes.md"]["id"]
        assert "chain" in hits[0].text and 0 < hits[0].score <= 1
        assert all(h.score <= hits[0].score for h in hits)

        one = await retrieval.search(database, [store_id], "water", max_num_results=1)
        assert len(one) == 1
        assert await retrieval.search(database, [store_id], "water", score_threshold=0.999) == []
        assert await retrieval.search(database, [store_id], "zeppelin") == []


async def test_add_files_and_unknown_ids(db) -> None:
    async with app_client(db) as (_client, app):
        database = app.state.services.db
        first = await upload_file(database, "a.txt", b"alpha apples", max_bytes=1 << 20)
        second = await upload_file(database, "b.txt", b"beta bananas", max_bytes=1 << 20)
        store_id = await retrieval.create_vector_store(database, file_ids=[first["id"]])
        with pytest.raises(APIError) as refused:
            await retrieval.create_vector_store(database, file_ids=["file-missing"])
        assert refused.value.status == 400
        await retrieval.add_files(database, store_id, [first["id"], second["id"]])
        await _ready(database, store_id)
        [hit] = await retrieval.search(database, [store_id], "bananas")
        assert hit.filename == "b.txt"
