"""Idempotency keys: a retried creating POST answers the first answer again and writes nothing."""

from __future__ import annotations

import asyncio
import warnings

import httpx
import openai
import pytest

from tests.server.helpers import Api, checked_client
from tests.server.spec import SpecValidator
from threadloom.threads_server.storage.idempotency_keys import count_keys
from threadloom.threads_server.testing import running_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STATS = "http://test/_threadloom/stats"
MESSAGE = {"role": "user", "content": "once"}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_retried_message_create_writes_one_message(api: Api) -> None:
    thread = await api.thread()
    path = f"/threads/{thread['id']}/messages"
    first = await api.client.post(path, json=MESSAGE, headers=key("k-msg"))
    again = await api.client.post(path, json=MESSAGE, headers=key("k-msg"))
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert [m["id"] for m in await api.messages(thread["id"])] == [first.json()["id"]]
    # Without a key (or with another one) every request writes.
    await api.ok("POST", path, json=MESSAGE)
    await api.ok("POST", path, json=MESSAGE, headers=key("k-other"))
    assert len(await api.messages(thread["id"])) == 3
    stats = (await api.client.get(STATS)).json()["idempotency"]
    assert stats == {"retention_seconds": 86400, "stored": 2, "replayed": 1, "rejected": 0}


async def test_retried_run_create_starts_the_run_once(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("hello")
    body = {"assistant_id": assistant["id"]}
    path = f"/threads/{thread['id']}/runs"
    first = await api.client.post(path, json=body, headers=key("k-run"))
    run = await api.wait(first.json())
    again = await api.client.post(path, json=body, headers=key("k-run"))
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    # The stored answer is the run as first created (queued), not its current state.
    assert again.json() == first.json() and again.json()["status"] == "queued"
    assert run["status"] == "completed"
    await asyncio.sleep(0.1)
    runs = await api.ok("GET", path)
    assert [r["id"] for r in runs["data"]] == [run["id"]]
    # The run ran once: one reply, and the thread is not locked by a second run.
    assert await api.reply_text(thread["id"], run["id"]) == "Echo: hello"
    assert len(await api.messages(thread["id"])) == 2


async def test_create_thread_and_run_and_assistant_and_thread_replay(api: Api) -> None:
    assistant = await api.assistant()
    body = {"assistant_id": assistant["id"], "thread": {"messages": [MESSAGE]}}
    first = await api.client.post("/threads/runs", json=body, headers=key("k-tr"))
    again = await api.client.post("/threads/runs", json=body, headers=key("k-tr"))
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    run = await api.wait(first.json())
    assert len(await api.messages(run["thread_id"])) == 2

    made = [
        await api.client.post("/assistants", json={"model": "echo"}, headers=key("k-asst"))
        for _ in range(2)
    ]
    assert made[0].json()["id"] == made[1].json()["id"]
    listed = await api.ok("GET", "/assistants")
    assert len(listed["data"]) == 2

    threads = [await api.client.post("/threads", headers=key("k-thread")) for _ in range(2)]
    assert threads[0].json()["id"] == threads[1].json()["id"]
    assert threads[1].headers["idempotent-replayed"] == "true"


async def test_same_key_with_another_request_is_rejected(api: Api) -> None:
    thread = await api.thread()
    path = f"/threads/{thread['id']}/messages"
    await api.ok("POST", path, json=MESSAGE, headers=key("k-reuse"))
    for method_path, body in (
        (path, {"role": "user", "content": "different"}),
        ("/threads", {}),
    ):
        response = await api.client.post(method_path, json=body, headers=key("k-reuse"))
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert error["type"] == "invalid_request_error" and error["param"] is None
    assert len(await api.messages(thread["id"])) == 1
    stats = (await api.client.get(STATS)).json()["idempotency"]
    assert stats["rejected"] == 2


async def test_malformed_keys_are_rejected(api: Api) -> None:
    thread = await api.thread()
    path = f"/threads/{thread['id']}/messages"
    for bad in ("", "k" * 256):
        response = await api.client.post(path, json=MESSAGE, headers=key(bad))
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert await api.messages(thread["id"]) == []
    await api.ok("POST", path, json=MESSAGE, headers=key("k" * 255))
    # Routes that do not honour keys ignore them, malformed or not.
    message = (await api.messages(thread["id"]))[0]
    await api.ok(
        "POST",
        f"{path}/{message['id']}",
        json={"metadata": {"a": "b"}},
        headers=key(""),
    )


async def test_failed_first_request_stores_nothing(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("x")
    stalled = await api.run(thread["id"], assistant["id"], metadata={"fault": "stall"})
    path = f"/threads/{thread['id']}/messages"
    busy = await api.client.post(path, json=MESSAGE, headers=key("k-retry"))
    assert busy.status_code == 400 and "is active" in busy.json()["error"]["message"]
    await api.ok("POST", f"/threads/{thread['id']}/runs/{stalled['id']}/cancel")
    await api.wait(stalled, until={"cancelled"})
    retried = await api.client.post(path, json=MESSAGE, headers=key("k-retry"))
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert (await api.messages(thread["id"]))[-1]["id"] == retried.json()["id"]

    missing = await api.client.post("/threads/thread_nope/messages", json=MESSAGE, headers=key("k-404"))
    assert missing.status_code == 404
    again = await api.client.post("/threads/thread_nope/messages", json=MESSAGE, headers=key("k-404"))
    assert again.status_code == 404 and "idempotent-replayed" not in again.headers


async def test_concurrent_identical_requests_write_once(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("x")
    path = f"/threads/{thread['id']}/messages"
    answers = await asyncio.gather(
        *(api.client.post(path, json=MESSAGE, headers=key("k-race")) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 7
    assert len(await api.messages(thread["id"])) == 2

    runs = await asyncio.gather(
        *(
            api.client.post(
                f"/threads/{thread['id']}/runs",
                json={"assistant_id": assistant["id"]},
                headers=key("k-race-run"),
            )
            for _ in range(5)
        )
    )
    assert {r.status_code for r in runs} == {200}
    assert len({r.json()["id"] for r in runs}) == 1
    await api.wait(runs[0].json())
    assert len((await api.ok("GET", f"/threads/{thread['id']}/runs"))["data"]) == 1


async def test_streaming_requests_ignore_the_key(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("x")
    path = f"/threads/{thread['id']}/runs"
    for _ in range(2):
        response = await api.client.post(
            path,
            json={"assistant_id": assistant["id"], "stream": True},
            headers=key("k" * 300),
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["threadloom-idempotency-keys"] == "86400"
    assert len((await api.ok("GET", path))["data"]) == 2


async def test_extension_header_on_every_v1_answer(api: Api) -> None:
    thread = await api.thread()
    ok = await api.client.get(f"/threads/{thread['id']}")
    missing = await api.client.get("/threads/thread_nope")
    unknown = await api.client.get("/nowhere")
    for response in (ok, missing, unknown):
        assert response.headers["threadloom-idempotency-keys"] == "86400"
    internal = await api.client.get("http://test/_threadloom/health")
    assert "threadloom-idempotency-keys" not in internal.headers
    assert internal.json()["idempotency_retention_seconds"] == 86400


async def test_expired_keys_are_forgotten_and_purged(make_api) -> None:
    async with make_api(idempotency_retention_seconds=60) as api:
        svc = api.app.state.services
        thread = await api.thread()
        path = f"/threads/{thread['id']}/messages"
        first = await api.ok("POST", path, json=MESSAGE, headers=key("k-old"))
        assert (await api.client.get(path)).headers["threadloom-idempotency-keys"] == "60"

        def age(conn, seconds: float) -> None:  # type: ignore[no-untyped-def]
            conn.execute("UPDATE idempotency_keys SET created_at = created_at - ?", (seconds,))

        await svc.db.run(age, 61)
        second = await api.client.post(path, json=MESSAGE, headers=key("k-old"))
        assert "idempotent-replayed" not in second.headers
        assert second.json()["id"] != first["id"]
        assert len(await api.messages(thread["id"])) == 2
        await api.ok("POST", path, json=MESSAGE, headers=key("k-other"))
        await svc.db.run(age, 61)
        assert await svc.idempotency.purge() == 2
        assert await svc.db.run(count_keys) == 0


async def test_retention_zero_turns_the_extension_off(make_api) -> None:
    async with make_api(idempotency_retention_seconds=0) as api:
        thread = await api.thread()
        path = f"/threads/{thread['id']}/messages"
        answers = [await api.client.post(path, json=MESSAGE, headers=key("")) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        assert "threadloom-idempotency-keys" not in answers[0].headers
        assert len(await api.messages(thread["id"])) == 2


@pytest.mark.parametrize("action", ["500_after_commit", "drop_after_commit"])
async def test_openai_sdk_retry_after_the_write_gives_one_message(
    db, spec: SpecValidator, action: str
) -> None:
    # The SDK keeps one idempotency key per call across its retries, but (openai 3.51) sends it only
    # when told a header name; per-call `extra_headers` are likewise resent on every retry.
    warnings.simplefilter("ignore", DeprecationWarning)
    async with running_server(db, faults_enabled=True, poll_after_ms=20) as server:
        faults = f"{server.root_url}/_threadloom/faults"
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test")  # default retries
        beta = client.beta
        assistant = await beta.assistants.create(model="echo")
        thread = await beta.threads.create()

        async def fault(target: str) -> None:
            async with checked_client(server.base_url, spec) as http:
                queued = await http.post(
                    faults, json={"method": "POST", "path": target, "action": action}
                )
                assert queued.status_code == 200

        await fault("/v1/threads/*/messages")
        message = await beta.threads.messages.create(
            thread.id, role="user", content="retry me", extra_headers=key("sdk-msg")
        )
        page = await beta.threads.messages.list(thread.id)
        assert [m.id for m in page.data] == [message.id]

        await fault("/v1/threads/*/runs")
        run = await beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, extra_headers=key("sdk-run")
        )
        assert run.status == "completed"
        runs = await beta.threads.runs.list(thread.id)
        assert [r.id for r in runs.data] == [run.id]
        replies = await beta.threads.messages.list(thread.id, run_id=run.id)
        assert [m.content[0].text.value for m in replies.data] == ["Echo: retry me"]

        # The SDK's own per-call key, sent once the client names the header.
        class KeyedOpenAI(openai.AsyncOpenAI):
            def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
                super().__init__(**kwargs)
                self._idempotency_header = "Idempotency-Key"

        await fault("/v1/threads/*/messages")
        keyed = KeyedOpenAI(base_url=server.base_url, api_key="sk-test")
        other = await keyed.beta.threads.messages.create(thread.id, role="user", content="again")
        page = await beta.threads.messages.list(thread.id)
        assert [m.id for m in page.data] == [other.id, replies.data[0].id, message.id]

        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"{server.root_url}/_threadloom/stats")).json()
        assert stats["idempotency"]["replayed"] == 3
        assert stats["requests"]["by_route"]["POST /v1/threads/{thread_id}/messages"] == 4
        assert stats["requests"]["by_route"]["POST /v1/threads/{thread_id}/runs"] == 2


async def test_openai_sdk_retry_without_a_key_writes_twice(db) -> None:
    """The hazard the keys remove: a plain SDK call retried after a committed write duplicates it."""
    warnings.simplefilter("ignore", DeprecationWarning)
    async with running_server(db, faults_enabled=True) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
        thread = await client.beta.threads.create()
        async with httpx.AsyncClient() as http:
            await http.post(
                f"{server.root_url}/_threadloom/faults",
                json={"path": "/v1/threads/*/messages", "action": "500_after_commit"},
            )
        await client.beta.threads.messages.create(thread.id, role="user", content="twice")
        page = await client.beta.threads.messages.list(thread.id)
        assert len(page.data) == 2
