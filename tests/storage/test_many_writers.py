"""BEHAVIOUR.md's rules with many writers: three app instances on ONE PostgreSQL database hammer one
thread at once, and the thread shows what a single writer would have left.

Each instance has its own connection pool and runner, as separate replicas would; the requests of all
three are sent at the same moment (`asyncio.gather`), so their transactions overlap in PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from threadloom.threads_server.testing import app_client

REPLICAS = 3
EACH = 6
ECHO = {"model": "echo"}
STALL = {"fault": "stall"}


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Three app instances on one database (all started before any run exists)."""
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(REPLICAS):
            client, _app = await stack.enter_async_context(
                app_client(postgres_url, faults_enabled=True, shutdown_grace_seconds=0.2)
            )
            clients.append(client)
        yield clients


def _all(replicas: list[httpx.AsyncClient], method: str, path: str, **kw: Any) -> list[Any]:
    return [replica.request(method, path, **kw) for replica in replicas for _ in range(EACH)]


async def _list_all(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    found, after = [], None
    while True:
        params: dict[str, Any] = {"order": "asc", "limit": 100, **({"after": after} if after else {})}
        page = (await client.get(path, params=params)).json()
        found += page["data"]
        if not page["has_more"]:
            return found
        after = page["last_id"]


async def test_one_active_run_per_thread_across_replicas(replicas: list[httpx.AsyncClient]) -> None:
    assistant = (await replicas[0].post("/assistants", json=ECHO)).json()
    thread = (await replicas[1].post("/threads")).json()
    runs = f"/threads/{thread['id']}/runs"
    body = {"assistant_id": assistant["id"], "metadata": STALL}
    answers = await asyncio.gather(*_all(replicas, "POST", runs, json=body))
    created = [a.json() for a in answers if a.status_code == 200]
    refused = [a.json()["error"]["message"] for a in answers if a.status_code == 400]
    assert len(created) == 1 and len(refused) == REPLICAS * EACH - 1, [a.text for a in answers]
    assert all("already has an active run" in message for message in refused)
    listed = await _list_all(replicas[2], runs)
    assert [run["id"] for run in listed] == [created[0]["id"]]
    # Locked: no replica adds a message; every replica's cancel answers `cancelling`.
    message = {"role": "user", "content": "while locked"}
    locked = await asyncio.gather(
        *_all(replicas, "POST", f"/threads/{thread['id']}/messages", json=message)
    )
    assert {a.status_code for a in locked} == {400}
    cancel = f"{runs}/{created[0]['id']}/cancel"
    cancels = await asyncio.gather(*_all(replicas, "POST", cancel))
    assert {a.status_code for a in cancels} <= {200, 400}
    assert any(a.status_code == 200 for a in cancels)
    held = await replicas[0].get(
        f"{runs}/{created[0]['id']}", params={"wait_ms": 5000, "if_status": "cancelling"}
    )
    assert held.json()["status"] == "cancelled"
    assert await _list_all(replicas[1], f"/threads/{thread['id']}/messages") == []


async def test_an_idempotency_key_writes_once_across_replicas(replicas: list[httpx.AsyncClient]) -> None:
    thread = (await replicas[0].post("/threads")).json()
    messages = f"/threads/{thread['id']}/messages"
    body = {"role": "user", "content": "once"}
    answers = await asyncio.gather(
        *_all(replicas, "POST", messages, json=body, headers={"Idempotency-Key": "k-message"})
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == len(answers) - 1
    assert len(await _list_all(replicas[1], messages)) == 1

    assistant = (await replicas[1].post("/assistants", json=ECHO)).json()
    runs = f"/threads/{thread['id']}/runs"
    answers = await asyncio.gather(
        *_all(
            replicas,
            "POST",
            runs,
            json={"assistant_id": assistant["id"]},
            headers={"Idempotency-Key": "k-run"},
        )
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await _list_all(replicas[2], runs)) == 1


async def _page_while_writing(
    reader: httpx.AsyncClient, path: str, writes: list[Any]
) -> tuple[list[httpx.Response], list[str]]:
    """Send `writes` at once while `reader` pages `path` (asc, 3 a page) until they are all in."""
    done = asyncio.Event()
    seen: list[str] = []

    async def page_through() -> None:
        after = None
        while True:
            finished = done.is_set()  # read before the page, so the last page follows the last write
            params: dict[str, Any] = {"order": "asc", "limit": 3, **({"after": after} if after else {})}
            page = (await reader.get(path, params=params)).json()
            seen.extend(item["id"] for item in page["data"])
            after = page["last_id"] or after
            if finished and not page["has_more"]:
                return
            await asyncio.sleep(0)

    async def write() -> list[httpx.Response]:
        try:
            return list(await asyncio.gather(*writes))
        finally:
            done.set()

    written, _ = await asyncio.gather(write(), page_through())
    return written, seen


async def test_list_pages_neither_skip_nor_repeat_under_concurrent_inserts(
    replicas: list[httpx.AsyncClient],
) -> None:
    thread = (await replicas[0].post("/threads")).json()
    messages = f"/threads/{thread['id']}/messages"
    bodies = [{"role": "user", "content": f"m{i}"} for i in range(REPLICAS * EACH * 2)]
    writes = [replicas[i % REPLICAS].post(messages, json=b) for i, b in enumerate(bodies)]
    written, seen = await _page_while_writing(replicas[2], messages, writes)
    assert {a.status_code for a in written} == {200}
    final = [m["id"] for m in await _list_all(replicas[0], messages)]
    assert sorted(final) == sorted(a.json()["id"] for a in written)
    assert seen == final  # the reader saw every message once, in the list's order

    written, seen = await _page_while_writing(
        replicas[1], "/assistants", _all(replicas, "POST", "/assistants", json=ECHO)
    )
    final = [a["id"] for a in await _list_all(replicas[0], "/assistants")]
    assert sorted(final) == sorted(a.json()["id"] for a in written)
    assert seen == final
