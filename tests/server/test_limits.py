"""The documented limits (issue 10, 3): 400 / 413 in the envelope, nothing written, settings apply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.server.conftest import ApiFactory
from tests.server.helpers import Api, checked_client
from tests.server.spec import SpecValidator
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.testing import running_server


def refused(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and text in error["message"], error


async def test_default_limits_are_the_documented_ones() -> None:
    defaults = ServerSettings()
    assert (
        defaults.max_body_bytes,
        defaults.max_json_depth,
        defaults.max_message_chars,
        defaults.max_instructions_chars,
        defaults.max_tool_chars,
        defaults.max_messages_per_thread,
    ) == (4 * 1024 * 1024, 64, 256_000, 256_000, 65_536, 100_000)


async def test_message_text_over_256000_characters_is_a_400(api: Api) -> None:
    thread = await api.thread()
    path = f"/threads/{thread['id']}/messages"
    refused(
        await api.client.post(path, json={"role": "user", "content": "x" * 256_001}),
        400,
        "at most 256000 characters",
    )
    parts = [{"type": "text", "text": "y" * 128_001}, {"type": "text", "text": "z" * 128_000}]
    refused(await api.client.post(path, json={"role": "user", "content": parts}), 400, "256000")
    assert await api.messages(thread["id"]) == []
    await api.ok("POST", path, json={"role": "user", "content": "x" * 256_000})


async def test_instruction_and_tool_limits_are_settings(make_api: ApiFactory) -> None:
    async with make_api(max_instructions_chars=50, max_tool_chars=200) as api:
        assistant = await api.assistant()
        thread = await api.thread("hi")
        tid, aid = thread["id"], assistant["id"]
        long_tool = {
            "type": "function",
            "function": {"name": "g", "parameters": {"type": "object", "d": "p" * 200}},
        }
        schema_format = {
            "type": "json_schema",
            "json_schema": {"name": "n", "schema": {"d": "p" * 200}},
        }
        for path, body, text in (
            ("/assistants", {"model": "echo", "instructions": "i" * 51}, "instructions"),
            (f"/assistants/{aid}", {"instructions": "i" * 51}, "instructions"),
            ("/assistants", {"model": "echo", "tools": [long_tool]}, "tools[0].function"),
            (f"/threads/{tid}/runs", {"assistant_id": aid, "instructions": "i" * 51}, "50"),
            (
                f"/threads/{tid}/runs",
                {"assistant_id": aid, "additional_instructions": "i" * 51},
                "additional_instructions",
            ),
            (f"/threads/{tid}/runs", {"assistant_id": aid, "tools": [long_tool]}, "200"),
            ("/threads/runs", {"assistant_id": aid, "response_format": schema_format}, "200"),
        ):
            refused(await api.client.post(path, json=body), 400, text)
        assert (await api.ok("GET", f"/threads/{tid}/runs"))["data"] == []
        assert len((await api.ok("GET", "/assistants"))["data"]) == 1
        await api.ok("POST", "/assistants", json={"model": "echo", "instructions": "i" * 50})


async def test_messages_per_thread_is_a_setting(make_api: ApiFactory) -> None:
    async with make_api(max_messages_per_thread=3) as api:
        assistant = await api.assistant()
        refused(
            await api.client.post("/threads", json={"messages": [{"role": "user", "content": "m"}] * 4}),
            400,
            "at most 3 messages",
        )
        thread = await api.thread("one", "two")
        tid = thread["id"]
        extra = [{"role": "user", "content": "more"}] * 2
        refused(
            await api.client.post(
                f"/threads/{tid}/runs",
                json={"assistant_id": assistant["id"], "additional_messages": extra},
            ),
            400,
            "a thread holds at most 3",
        )
        assert (await api.ok("GET", f"/threads/{tid}/runs"))["data"] == []
        await api.ok("POST", f"/threads/{tid}/messages", json={"role": "user", "content": "three"})
        refused(
            await api.client.post(f"/threads/{tid}/messages", json={"role": "user", "content": "four"}),
            400,
            "already has 3 messages",
        )
        assert len(await api.messages(tid)) == 3


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield b'{"role": "user", "content": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_a_413_before_it_is_buffered(
    db, spec: SpecValidator, chunked: bool
) -> None:
    async with running_server(db, max_body_bytes=100_000) as server:
        async with checked_client(server.base_url, spec, timeout=30) as client:
            thread = (await client.post("/threads")).json()
            path = f"/threads/{thread['id']}/messages"
            body = _chunks(200_000) if chunked else b'{"role":"user","content":"%s"}' % (b"x" * 200_000)
            answer = await client.post(path, content=body, headers={"content-type": "application/json"})
            refused(answer, 413, "larger than this server accepts (100000 bytes)")
            assert answer.json()["error"]["code"] == "request_too_large"
            # Nothing was written, and the server goes on serving (a new connection if need be).
            listed = await client.get(path)
            assert listed.status_code == 200 and listed.json()["data"] == []
            fits = await client.post(path, json={"role": "user", "content": "x" * 90_000})
            assert fits.status_code == 200


async def test_a_100_megabyte_message_is_refused_by_the_defaults(db, spec: SpecValidator) -> None:
    """The issue's reproduction: a declared 100 MB body gets its 413 (not a reset connection)."""
    async with running_server(db) as server:
        async with checked_client(server.base_url, spec, timeout=30) as client:
            thread = (await client.post("/threads")).json()
            path = f"/threads/{thread['id']}/messages"
            size = 100 * 1024 * 1024
            answer = await client.post(
                path,
                content=_chunks(size, 1024 * 1024),
                headers={"content-length": str(size + 31), "content-type": "application/json"},
            )
            refused(answer, 413, "larger than this server accepts (4194304 bytes)")
            assert (await client.get(path)).json()["data"] == []


async def test_an_expect_100_continue_client_is_refused_before_it_sends(db) -> None:
    """With `Expect: 100-continue` the 413 comes at once, and the client never sends the body."""
    async with running_server(db, max_body_bytes=1000) as server:
        host, port = server.root_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                b"POST /v1/threads HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 5000000\r\nexpect: 100-continue\r\n\r\n"
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 413"), head
            assert b"100 Continue" not in head
        finally:
            writer.close()
