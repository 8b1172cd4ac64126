"""Bad input to the Files and Vector Stores API: a clear 4xx in the error envelope, nothing stored."""

from __future__ import annotations

from typing import Any

import httpx

from threadloom.threads_server.storage.rows import save
from threadloom.threads_server.storage.vector_stores import find_store
from threadloom.threads_server.testing import app_client

STATIC = {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}}


async def _upload(client: httpx.AsyncClient, name: str, content: bytes, **fields: Any) -> Any:
    return await client.post(
        "/files", files={"file": (name, content)}, data={"purpose": "assistants", **fields}
    )


def _refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert all(word in message for word in words), message


async def test_bad_uploads_and_bad_stores_are_refused_and_store_nothing(db, files_spec) -> None:
    hooks = {"response": [files_spec.hook()]}
    async with app_client(db, event_hooks=hooks, max_file_bytes=1000) as (client, app):
        _refused(await _upload(client, "a.txt", b"x" * 1001), 413, "1000 bytes")
        _refused(await _upload(client, "a.txt", b""), 400, "empty")
        _refused(await _upload(client, "a.png", b"\x89PNG\r\n"), 400, "'.png'", "not supported")
        _refused(await _upload(client, "a.txt", b"\xff\xfe\x00bad"), 400, "UTF-8")
        _refused(await _upload(client, "a.json", b"{not json"), 400, "JSON")
        _refused(await _upload(client, "a.pdf", b"%PDF-1.4 garbage"), 400, "PDF")
        _refused(await _upload(client, "a.txt", b"   \n"), 400, "no text")
        wrong = await client.post("/files", files={"file": ("a.txt", b"hi")}, data={"purpose": "batch"})
        _refused(wrong, 400, "'assistants' only")
        unknown = await client.post("/files", files={"file": ("a.txt", b"hi")}, data={"purpose": "x"})
        _refused(unknown, 400, "purpose")
        _refused(await client.post("/files", data={"purpose": "assistants"}), 400, "'file'")
        _refused(await client.post("/files", json={"purpose": "assistants"}), 400, "multipart")
        expiry = {"expires_after[anchor]": "created_at", "expires_after[seconds]": "10"}
        _refused(await _upload(client, "a.txt", b"hi", **expiry), 400, "expires_after.seconds")
        assert (await client.get("/files")).json()["data"] == []

        good = (await _upload(client, "good.txt", b"a good file")).json()
        bad_bodies: list[tuple[dict[str, Any], str]] = [
            ({"file_ids": ["file-nope"]}, "file-nope"),
            (
                {"file_ids": [good["id"]], "expires_after": {"anchor": "last_active_at", "days": 0}},
                "days",
            ),
            ({"expires_after": {"anchor": "created_at", "days": 3}}, "anchor"),
            (
                {
                    "file_ids": [good["id"]],
                    "chunking_strategy": {
                        "type": "static",
                        "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
                    },
                },
                "max_chunk_size_tokens",
            ),
            (
                {
                    "file_ids": [good["id"]],
                    "chunking_strategy": {
                        "type": "static",
                        "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101},
                    },
                },
                "half",
            ),
            ({"chunking_strategy": {"type": "fancy"}}, "chunking_strategy"),
            ({"name": "x", "colour": "red"}, "colour"),
        ]
        for body, word in bad_bodies:
            _refused(await client.post("/vector_stores", json=body), 400, word)
        assert (await client.get("/vector_stores")).json()["data"] == []

        store = (await client.post("/vector_stores", json={"name": "s"})).json()
        sid = store["id"]
        _refused(
            await client.post(f"/vector_stores/{sid}/files", json={"file_id": "file-x"}), 400, "file-x"
        )
        batch_bodies = [
            {"file_ids": [good["id"]], "files": [{"file_id": good["id"]}]},
            {"file_ids": []},
            {"file_ids": [good["id"], "file-missing"]},
            {"files": [{"file_id": good["id"], "attributes": {"k" * 65: "v"}}]},
            {"file_ids": [good["id"]], "attributes": {"k": "v" * 513}},
        ]
        for body in batch_bodies:
            assert (
                await client.post(f"/vector_stores/{sid}/file_batches", json=body)
            ).status_code == 400
        assert (await client.get(f"/vector_stores/{sid}/files")).json()["data"] == []
        assert (await client.get(f"/vector_stores/{sid}")).json()["file_counts"]["total"] == 0

        search = f"/vector_stores/{sid}/search"
        _refused(
            await client.post(search, json={"query": "x", "max_num_results": 51}), 400, "max_num_results"
        )
        _refused(await client.post(search, json={"query": ""}), 400, "query")
        threshold = {"query": "x", "ranking_options": {"score_threshold": 1.5}}
        _refused(await client.post(search, json=threshold), 400, "score_threshold")
        _refused(
            await client.post(search, json={"query": "x", "filters": {"type": "zz"}}), 400, "filter"
        )
        _refused(await client.post("/vector_stores/vs_nope/search", json={"query": "x"}), 404, "vs_nope")
        _refused(await client.get("/files/file-nope"), 404, "file-nope")
        _refused(await client.delete("/files/file-nope"), 404, "file-nope")
        _refused(await client.get(f"/vector_stores/{sid}/files/file-nope"), 404, "file-nope")
        _refused(await client.get(f"/vector_stores/{sid}/file_batches/vsfb_nope"), 404, "vsfb_nope")

        # An expired store says so, and refuses searches and new files.
        database = app.state.services.db

        def expire(conn: Any) -> None:
            row = find_store(conn, sid)
            assert row is not None
            save(conn, "vector_stores", {**row, "expires_at": 1})

        await database.run(expire)
        assert (await client.get(f"/vector_stores/{sid}")).json()["status"] == "expired"
        _refused(await client.post(search, json={"query": "x"}), 400, "expired")
        attach = await client.post(f"/vector_stores/{sid}/files", json={"file_id": good["id"]})
        _refused(attach, 400, "expired")


async def test_an_upload_may_exceed_the_json_body_limit_up_to_the_file_limit(tmp_path) -> None:
    settings = {"max_body_bytes": 2000, "max_file_bytes": 10_000}
    async with app_client(tmp_path, **settings) as (client, _app):
        text = b"ok " * 2000  # 6,000 bytes: over the body limit, under the file limit
        assert (await _upload(client, "big.txt", text)).status_code == 200
        _refused(await _upload(client, "big.txt", text * 2), 413, "10000 bytes")
        _refused(await client.post("/vector_stores", json={"name": "x" * 3000}), 413, "2000 bytes")
