"""Bad input: 400 with a clear message in the envelope, never FastAPI's 422, nothing written."""

from __future__ import annotations

import pytest

from tests.server.helpers import Api

BAD_MESSAGES = [
    (b"{not json", "could not parse the JSON body"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"role": "user"}', "Missing required parameter: 'content'."),
    (b'{"role": "user", "content": ""}', "Invalid value for 'content'"),
    (b'{"role": "user", "content": []}', "Invalid value for 'content'"),
    (b'{"role": "user", "content": 5}', "Invalid value for 'content'"),
    (b'{"role": "robot", "content": "x"}', "Invalid value for 'role'"),
    (
        b'{"role": "user", "content": "x", "colour": "red"}',
        "Unrecognized request argument supplied: colour",
    ),
    (b'{"role": "user", "content": [{"type": "text", "text": ""}]}', "Invalid value for 'content"),
    (
        b'{"role": "user", "content": "x", "metadata": {"k": 1}}',
        "Invalid value for 'metadata.k'",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_MESSAGES)
async def test_bad_message_bodies(api: Api, body: bytes, message: str) -> None:
    thread = await api.thread("kept")
    response = await api.client.post(
        f"/threads/{thread['id']}/messages",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"
    assert len(await api.messages(thread["id"])) == 1


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({f"k{i}": "v" for i in range(17)}, "at most 16 key-value pairs"),
        ({"k" * 65: "v"}, "keys can be at most 64 characters"),
        ({"k": "v" * 513}, "values can be at most 512 characters"),
    ],
)
async def test_metadata_limits(api: Api, metadata: dict[str, str], message: str) -> None:
    thread = await api.thread()
    response = await api.client.post(
        f"/threads/{thread['id']}/messages",
        json={"role": "user", "content": "x", "metadata": metadata},
    )
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert response.json()["error"]["param"] == "metadata"
    assert await api.messages(thread["id"]) == []
    ok = {f"k{i}": "v" * 512 for i in range(16)}
    await api.ok("POST", f"/threads/{thread['id']}", json={"metadata": ok})


async def test_bad_run_requests_write_nothing(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("hi")
    tid = thread["id"]
    cases = [
        ({}, "Missing required parameter: 'assistant_id'."),
        ({"assistant_id": assistant["id"], "max_completion_tokens": 10}, "max_completion_tokens"),
        ({"assistant_id": assistant["id"], "temperature": "hot"}, "temperature"),
        ({"assistant_id": assistant["id"], "tools": [{"type": "robot"}]}, "tools"),
        ({"assistant_id": assistant["id"], "unknown": 1}, "Unrecognized request argument"),
        (
            {"assistant_id": assistant["id"], "additional_messages": [{"role": "user", "content": ""}]},
            "additional_messages",
        ),
    ]
    for body, message in cases:
        response = await api.client.post(f"/threads/{tid}/runs", json=body)
        assert response.status_code == 400, (body, response.text)
        assert message in response.json()["error"]["message"], response.text
    missing = await api.client.post(f"/threads/{tid}/runs", json={"assistant_id": "asst_missing"})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No assistant found with id 'asst_missing'."
    runs = await api.ok("GET", f"/threads/{tid}/runs")
    assert runs["data"] == [] and len(await api.messages(tid)) == 1


async def test_bad_queries_and_unknown_ids(api: Api) -> None:
    thread = await api.thread()
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "many"}, {"order": "sideways"}):
        response = await api.client.get(f"/threads/{thread['id']}/messages", params=params)
        assert response.status_code == 400, response.text
    for path in (
        "/threads/thread_nope",
        f"/threads/{thread['id']}/messages/msg_nope",
        f"/threads/{thread['id']}/runs/run_nope",
        f"/threads/{thread['id']}/runs/run_nope/steps",
        "/assistants/asst_nope",
        "/no/such/route",
    ):
        response = await api.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "invalid_request_error"


async def test_bad_tool_outputs(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("/tool lookup")
    run = await api.wait(await api.run(thread["id"], assistant["id"]))
    path = f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs"
    for body in (
        {},
        {"tool_outputs": []},
        {"tool_outputs": [{"tool_call_id": "call_wrong", "output": "1"}]},
    ):
        response = await api.client.post(path, json=body)
        assert response.status_code == 400, response.text
    still = await api.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}")
    assert still["status"] == "requires_action"
