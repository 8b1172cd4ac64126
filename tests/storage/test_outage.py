"""PostgreSQL going away under a running server: 503 in the error envelope, never a wrong answer, and
service again once it is back (the real server stopped and restarted, a real HTTP socket)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.postgres import PostgresServer
from threadloom.threads_server.testing import running_server


@pytest.fixture
def own_postgres(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, since the test stops it (needs the session one's
    binaries check to have passed)."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.close()


async def _until_ok(client: httpx.AsyncClient, path: str, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get(path)
        if response.status_code == 200:
            return response
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, f"still {response.status_code} after {seconds} s"
        await asyncio.sleep(0.2)


async def test_a_database_outage_is_503_and_service_resumes(
    own_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_postgres.create_database()
    async with running_server(url) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            thread = (await client.post("/threads")).json()
            messages = f"/threads/{thread['id']}/messages"
            body = {"role": "user", "content": "before"}
            assert (await client.post(messages, json=body)).status_code == 200

            await asyncio.to_thread(own_postgres.stop)
            with caplog.at_level(logging.INFO):
                down = [
                    await client.post(messages, json={"role": "user", "content": "during"}),
                    await client.get(messages),
                    await client.post("/threads"),
                ]
            for response in down:
                assert response.status_code == 503, response.text
                error = response.json()["error"]
                assert error["type"] == "server_error" and error["code"] == "database_unavailable"
                assert response.headers["retry-after"] == "1"
                assert own_postgres.password not in response.text
            assert all(own_postgres.password not in r.getMessage() for r in caplog.records)

            await asyncio.to_thread(own_postgres.restart)
            listed = (await _until_ok(client, messages, 15)).json()["data"]
            # What was written before is there; what was refused was not written.
            assert [m["content"][0]["text"]["value"] for m in listed] == ["before"]
            assert (
                await client.post(messages, json={"role": "user", "content": "after"})
            ).status_code == 200
            assert len((await client.get(messages)).json()["data"]) == 2
