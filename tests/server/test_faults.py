"""Fault injection: run faults from metadata, HTTP faults from `/_threadloom/faults`."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.server.helpers import Api, checked_client
from tests.server.spec import SpecValidator
from threadloom.threads_server.testing import running_server


async def test_delay_fault(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("slow")
    started = time.monotonic()
    run = await api.wait(await api.run(thread["id"], assistant["id"], metadata={"fault": "delay=300"}))
    assert run["status"] == "completed" and time.monotonic() - started >= 0.3
    assert await api.reply_text(thread["id"], run["id"]) == "Echo: slow"


@pytest.mark.parametrize("code", ["server_error", "rate_limit_exceeded", "invalid_prompt"])
async def test_fail_fault(api: Api, code: str) -> None:
    assistant = await api.assistant()
    thread = await api.thread("x")
    run = await api.wait(
        await api.run(thread["id"], assistant["id"], metadata={"fault": f"fail={code}"})
    )
    assert run["status"] == "failed" and run["last_error"]["code"] == code
    assert run["failed_at"] is not None and run["expires_at"] is None
    assert await api.messages(thread["id"], run_id=run["id"]) == []


async def test_expire_fault(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("x")
    run = await api.wait(await api.run(thread["id"], assistant["id"], metadata={"fault": "expire"}))
    assert run["status"] == "expired" and run["expires_at"] is None


@pytest.mark.parametrize("reason", ["max_prompt_tokens", "max_completion_tokens"])
async def test_incomplete_fault(api: Api, reason: str) -> None:
    assistant = await api.assistant()
    thread = await api.thread("x")
    run = await api.wait(
        await api.run(thread["id"], assistant["id"], metadata={"fault": f"incomplete={reason}"})
    )
    assert run["status"] == "incomplete" and run["incomplete_details"] == {"reason": reason}


async def test_fault_from_assistant_metadata_and_fault_times(api: Api) -> None:
    assistant = await api.assistant(metadata={"fault": "stall", "fault_times": "1"})
    thread = await api.thread("x")
    first = await api.wait(await api.run(thread["id"], assistant["id"]), until={"in_progress"})
    await api.ok("POST", f"/threads/{thread['id']}/runs/{first['id']}/cancel")
    await api.wait(first, until={"cancelled"})
    second = await api.wait(await api.run(thread["id"], assistant["id"]))
    assert second["status"] == "completed"
    # The run's own metadata wins over the assistant's.
    third = await api.run(thread["id"], assistant["id"], metadata={"fault": "fail=server_error"})
    assert (await api.wait(third))["status"] == "failed"


async def test_run_faults_are_ignored_unless_enabled(make_api) -> None:
    async with make_api(faults_enabled=False) as api:
        assistant = await api.assistant()
        thread = await api.thread("x")
        run = await api.wait(
            await api.run(thread["id"], assistant["id"], metadata={"fault": "fail=server_error"})
        )
        assert run["status"] == "completed"
        response = await api.client.post(
            "http://test/_threadloom/faults", json={"path": "/v1/threads", "action": "500"}
        )
        assert response.status_code == 400


async def test_http_500_and_429_answer_before_the_handler(api: Api) -> None:
    thread = await api.thread()
    root = "http://test/_threadloom/faults"
    path = "/v1/threads/*/messages"
    await api.ok("POST", root, json={"method": "POST", "path": path, "action": "500"})
    await api.ok("POST", root, json={"method": "POST", "path": path, "action": "429", "retry_after": 2})
    body = {"role": "user", "content": "x"}
    first = await api.client.post(f"/threads/{thread['id']}/messages", json=body)
    assert first.status_code == 500 and first.json()["error"]["type"] == "server_error"
    second = await api.client.post(f"/threads/{thread['id']}/messages", json=body)
    assert second.status_code == 429 and second.headers["retry-after"] == "2"
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert await api.messages(thread["id"]) == []
    await api.ok("POST", f"/threads/{thread['id']}/messages", json=body)
    assert len(await api.messages(thread["id"])) == 1
    await api.ok("POST", root, json={"path": "/v1/threads/*", "action": "500", "times": 3})
    assert len((await api.ok("GET", root))["faults"]) == 1
    await api.ok("DELETE", root)
    await api.ok("GET", f"/threads/{thread['id']}")


async def test_drop_and_drop_after_commit_over_a_socket(db, spec: SpecValidator) -> None:
    async with running_server(db, faults_enabled=True) as server:
        async with checked_client(server.base_url, spec) as client:
            thread = (await client.post("/threads")).json()
            faults = f"{server.root_url}/_threadloom/faults"
            target = "/v1/threads/*/messages"
            body = {"role": "user", "content": "x"}
            path = f"/threads/{thread['id']}/messages"

            await client.post(faults, json={"method": "POST", "path": target, "action": "drop"})
            with pytest.raises(httpx.TransportError):
                await client.post(path, json=body)
            assert (await client.get(path)).json()["data"] == []

            await client.post(
                faults, json={"method": "POST", "path": target, "action": "drop_after_commit"}
            )
            with pytest.raises(httpx.TransportError):
                await client.post(path, json=body)
            # The write happened even though no answer came back.
            assert len((await client.get(path)).json()["data"]) == 1
            assert (await client.post(path, json=body)).status_code == 200


async def test_drop_without_a_socket_still_fails_the_request(api: Api) -> None:
    await api.ok(
        "POST", "http://test/_threadloom/faults", json={"path": "/v1/threads", "action": "drop"}
    )
    with pytest.raises(ConnectionError):
        await api.client.post("/threads")
