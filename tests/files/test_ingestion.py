"""Ingestion in the background: resumed after a restart, taken over from a dead replica's lapsed
claim; semantic (hybrid) search through a real embeddings endpoint on a socket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import SecretStr

from tests.files.fake_embeddings import fake_embeddings
from threadloom.threads_server.files.embeddings import EmbeddingsSettings
from threadloom.threads_server.storage import vector_store_files
from threadloom.threads_server.testing import running_server


async def _store_status(client: httpx.AsyncClient, store_id: str, wanted: str) -> dict[str, Any]:
    for _ in range(400):
        store: dict[str, Any] = (await client.get(f"/vector_stores/{store_id}")).json()
        if store["status"] == wanted:
            return store
        await asyncio.sleep(0.02)
    raise AssertionError(f"store never {wanted}: {store}")


async def _upload(client: httpx.AsyncClient, name: str, text: str) -> str:
    response = await client.post(
        "/files", files={"file": (name, text.encode())}, data={"purpose": "assistants"}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_ingestion_resumes_after_a_restart(db, files_spec) -> None:
    hooks = {"response": [files_spec.hook()]}
    # A replica that ingests nothing: files stay `in_progress` while it runs, and after it stops.
    async with running_server(db, ingest_workers=0) as front:
        async with httpx.AsyncClient(base_url=front.base_url, event_hooks=hooks) as client:
            left = await _upload(client, "left.txt", "The ferry leaves the pier at seven.")
            taken = await _upload(client, "taken.txt", "The glacier retreats a metre a year.")
            store = (await client.post("/vector_stores", json={"file_ids": [left, taken]})).json()
            # A replica claims one file and dies (its lease lapses after 0.5 s).
            database = front.app.state.services.db
            claim = await database.run(vector_store_files.claim, "dead-replica", 0.5)
            assert claim is not None
            again = (await client.get(f"/vector_stores/{store['id']}")).json()
            assert again["status"] == "in_progress" and again["file_counts"]["in_progress"] == 2

            # A batch cancelled before it was ingested: its files are `cancelled`, the store ready.
            other = (await client.post("/vector_stores", json={"name": "other"})).json()
            files = [{"file_id": left, "attributes": {"kind": "ferry"}}]
            batch_path = f"/vector_stores/{other['id']}/file_batches"
            batch = (await client.post(batch_path, json={"files": files})).json()
            assert batch["status"] == "in_progress" and batch["file_counts"]["in_progress"] == 1
            cancelled = (await client.post(f"{batch_path}/{batch['id']}/cancel")).json()
            assert cancelled["status"] == "cancelled" and cancelled["file_counts"]["cancelled"] == 1
            listed = (await client.get(f"{batch_path}/{batch['id']}/files")).json()["data"]
            assert [(f["status"], f["attributes"]) for f in listed] == [("cancelled", {"kind": "ferry"})]
            ready = (await client.get(f"/vector_stores/{other['id']}")).json()
            assert ready["status"] == "completed" and ready["file_counts"]["cancelled"] == 1

    async with running_server(db) as back:
        async with httpx.AsyncClient(base_url=back.base_url, event_hooks=hooks) as client:
            done = await _store_status(client, store["id"], "completed")
            assert done["file_counts"] == {
                "in_progress": 0,
                "completed": 2,
                "failed": 0,
                "cancelled": 0,
                "total": 2,
            }
            for query, file_id in (("when does the ferry leave", left), ("glacier", taken)):
                search = f"/vector_stores/{store['id']}/search"
                hits = (await client.post(search, json={"query": query})).json()["data"]
                assert hits[0]["file_id"] == file_id


async def test_semantic_search_through_an_embeddings_endpoint(db, files_spec) -> None:
    hooks = {"response": [files_spec.hook()]}
    async with fake_embeddings() as fake:
        embeddings = EmbeddingsSettings(
            base_url=fake.base_url, model="fake-embed", api_key=SecretStr("sk-embed")
        )
        async with running_server(db, embeddings=embeddings) as server:
            async with httpx.AsyncClient(base_url=server.base_url, event_hooks=hooks) as client:
                car = await _upload(client, "car.txt", "Change the car oil every ten thousand km.")
                cat = await _upload(client, "cat.txt", "Feed the cat twice a day and brush its fur.")
                body = {"file_ids": [car, cat]}
                store = (await client.post("/vector_stores", json=body)).json()
                await _store_status(client, store["id"], "completed")
                search = f"/vector_stores/{store['id']}/search"
                # No word in common with either document: only the vectors can find it.
                hits = (await client.post(search, json={"query": "automobile"})).json()["data"]
                assert hits[0]["file_id"] == car and hits[0]["score"] > 0.2
                hits = (await client.post(search, json={"query": "my kitty"})).json()["data"]
                assert hits[0]["file_id"] == cat
                strict = {"query": "automobile", "ranking_options": {"score_threshold": 0.99}}
                assert (await client.post(search, json=strict)).json()["data"] == []

                # The endpoint down: ingestion fails the file, search falls back to lexical.
                fake.failing = True
                dog = await _upload(client, "dog.txt", "Walk the dog before breakfast.")
                attach = await client.post(f"/vector_stores/{store['id']}/files", json={"file_id": dog})
                assert attach.status_code == 200
                failed = await _store_status(client, store["id"], "completed")
                assert failed["file_counts"]["failed"] == 1
                dog_file = (await client.get(f"/vector_stores/{store['id']}/files/{dog}")).json()
                assert dog_file["status"] == "failed"
                assert dog_file["last_error"]["code"] == "server_error"
                hits = (await client.post(search, json={"query": "brush the fur"})).json()["data"]
                assert hits[0]["file_id"] == cat
                fake.failing = False
    assert {r["body"]["model"] for r in fake.requests} == {"fake-embed"}
    assert {r["authorization"] for r in fake.requests} == {"Bearer sk-embed"}
    embedded = [text for r in fake.requests for text in r["body"]["input"]]
    assert "automobile" in embedded and any("cat" in text for text in embedded)
