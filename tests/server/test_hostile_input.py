"""Hostile JSON: 400 in the envelope, nothing written, every read still works (issue 10, 1/2/4).

Bodies are sent as raw bytes, because the point is what a client's JSON text may hold that a
well-behaved encoder would never produce: lone surrogate escapes, `NaN`, deep nesting, huge numbers.
"""

from __future__ import annotations

import logging

import pytest

from tests.server.helpers import Api
from threadloom.threads_server import retrieval
from threadloom.threads_server.storage import Conn
from threadloom.threads_server.storage import threads as storage_threads

ECHO_TOOL = b'{"type":"function","function":{"name":"g","parameters":%s}}'


async def post_raw(api: Api, path: str, body: bytes) -> tuple[int, dict]:
    response = await api.client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.headers["content-type"] == "application/json", response.text
    return response.status_code, response.json()


async def counts(api: Api, thread_id: str) -> tuple[int, int, int]:
    """Assistants, messages on the thread, runs on the thread; every list must answer 200."""
    assistants = await api.ok("GET", "/assistants", params={"limit": 100})
    runs = await api.ok("GET", f"/threads/{thread_id}/runs", params={"limit": 100})
    for run in runs["data"]:
        await api.ok("GET", f"/threads/{thread_id}/runs/{run['id']}/steps")
    return len(assistants["data"]), len(await api.messages(thread_id)), len(runs["data"])


def assert_refused(status: int, body: dict, text: str) -> None:
    assert status == 400, body
    assert body["error"]["type"] == "invalid_request_error"
    assert text in body["error"]["message"], body


SURROGATE = b'{"x":"\\ud800"}'


async def test_a_lone_surrogate_is_refused_everywhere_and_writes_nothing(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("kept")
    tid, aid = thread["id"], assistant["id"].encode()
    before = await counts(api, tid)
    cases = [
        ("/assistants", b'{"model":"echo","tools":[%s]}' % (ECHO_TOOL % SURROGATE)),
        ("/assistants", b'{"model":"echo","name":"a\\udfffb"}'),
        ("/assistants", b'{"model":"echo","metadata":{"\\ud83d":"v"}}'),
        ("/threads", b'{"tool_resources":{"code_interpreter":{"file_ids":["\\ud800"]}}}'),
        ("/threads", b'{"messages":[{"role":"user","content":"\\ud800"}]}'),
        (f"/threads/{tid}/messages", b'{"role":"user","content":"hi \\udc00"}'),
        (
            f"/threads/{tid}/runs",
            b'{"assistant_id":"%s","response_format":{"type":"json_schema",'
            b'"json_schema":{"name":"n","schema":%s}}}' % (aid, SURROGATE),
        ),
        (f"/threads/{tid}/runs", b'{"assistant_id":"%s","tools":[%s]}' % (aid, ECHO_TOOL % SURROGATE)),
        ("/threads/runs", b'{"assistant_id":"%s","metadata":{"k":"\\ud800"}}' % aid),
        (f"/threads/{tid}", b'{"metadata":{"k":"\\ud800"}}'),
    ]
    for path, body in cases:
        status, answer = await post_raw(api, path, body)
        assert_refused(status, answer, "lone UTF-16 surrogate")
    assert await counts(api, tid) == before
    assert (await api.ok("GET", f"/threads/{tid}"))["metadata"] == {}


async def test_a_paired_surrogate_escape_is_the_character_it_spells(api: Api) -> None:
    status, created = await post_raw(
        api,
        "/assistants",
        b'{"model":"echo","name":"\\ud83d\\ude00 \\u202eabc","metadata":{"k":"\\u0000"}}',
    )
    assert status == 200, created
    read = await api.ok("GET", f"/assistants/{created['id']}")
    assert read["name"] == "\U0001f600 \u202eabc" and read["metadata"] == {"k": "\x00"}


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


@pytest.mark.parametrize(
    ("parameters", "text"),
    [
        (b'{"x":%s}' % nested(5000), "nested deeper than 64 levels"),
        (b'{"x":%s}' % nested(70), "nested deeper than 64 levels"),
        (b'{"x":1%s}' % (b"0" * 5000), "more digits than the parser takes"),
        (b'{"x":NaN}', "NaN is not a JSON value"),
        (b'{"x":-Infinity}', "Infinity is not a JSON value"),
        (b'{"x":1e999}', "out of range"),
    ],
)
async def test_json_the_parser_cannot_take_is_a_400(api: Api, parameters: bytes, text: str) -> None:
    thread = await api.thread("kept")
    before = await counts(api, thread["id"])
    status, answer = await post_raw(
        api, "/assistants", b'{"model":"echo","tools":[%s]}' % (ECHO_TOOL % parameters)
    )
    assert_refused(status, answer, text)
    assert await counts(api, thread["id"]) == before


async def test_deep_nesting_at_the_top_and_in_metadata_is_a_400(api: Api) -> None:
    thread = await api.thread("kept")
    for path, body in (
        ("/threads", nested(100_000)),
        ("/threads", b'{"metadata":{"k":%s}}' % nested(3000, b'"v"')),
        (f"/threads/{thread['id']}/messages", b'{"role":"user","content":%s}' % nested(2000)),
    ):
        status, answer = await post_raw(api, path, body)
        assert_refused(status, answer, "nested deeper than")
    assert len(await api.messages(thread["id"])) == 1


async def test_tools_within_the_limits_read_back_exactly(api: Api) -> None:
    parameters = {"type": "object", "x": [[[[1]]]], "big": 10**300, "f": -0.5e-300, "s": "\x00\u202e"}
    tool = {"type": "function", "function": {"name": "g", "parameters": parameters}}
    created = await api.ok("POST", "/assistants", json={"model": "echo", "tools": [tool]})
    assert (await api.ok("GET", f"/assistants/{created['id']}"))["tools"] == [tool]


BAD_TOOL_RESOURCES = [
    {"file_search": [1]},
    {"code_interpreter": {"file_ids": [{"a": 1}]}},
    {"bogus": True},
    {"code_interpreter": {"file_ids": ["f"] * 21}},
    {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}},
    {"file_search": {"vector_stores": [{"file_ids": ["f"]}]}},
    {"code_interpreter": {"file_ids": [""]}},
]


@pytest.mark.parametrize("resources", BAD_TOOL_RESOURCES)
async def test_tool_resources_follow_the_spec(api: Api, resources: dict) -> None:
    assistant = await api.assistant()
    thread = await api.thread("kept")
    before = await counts(api, thread["id"])
    for path, body in (
        ("/assistants", {"model": "echo", "tool_resources": resources}),
        (f"/assistants/{assistant['id']}", {"tool_resources": resources}),
        ("/threads", {"tool_resources": resources}),
        (f"/threads/{thread['id']}", {"tool_resources": resources}),
        ("/threads/runs", {"assistant_id": assistant["id"], "tool_resources": resources}),
        ("/threads/runs", {"assistant_id": assistant["id"], "thread": {"tool_resources": resources}}),
    ):
        response = await api.client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert "tool_resources" in response.json()["error"]["message"], response.text
    assert await counts(api, thread["id"]) == before
    assert (await api.ok("GET", f"/assistants/{assistant['id']}"))["tool_resources"] == {}


async def test_valid_tool_resources_read_back(api: Api) -> None:
    # Ids must exist (unknown ones are a 400: tests/file_search); code_interpreter may name no file.
    resources = {"code_interpreter": {"file_ids": []}, "file_search": {}}
    thread = await api.ok("POST", "/threads", json={"tool_resources": resources})
    assert (await api.ok("GET", f"/threads/{thread['id']}"))["tool_resources"] == resources
    store_id = await retrieval.create_vector_store(api.app.state.services.db, file_ids=[])
    assistant = await api.ok(
        "POST",
        "/assistants",
        json={"model": "echo", "tool_resources": {"file_search": {"vector_store_ids": [store_id]}}},
    )
    assert assistant["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}


@pytest.mark.parametrize(
    "body",
    [
        {"response_format": {"type": "bogus"}},
        {"response_format": {"type": "json_schema"}},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "n", "extra": 1}}},
        {"response_format": "json"},
        {"tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}]},
        {"tools": [{"type": "file_search", "file_search": {"colour": "red"}}]},
        {"reasoning_effort": "extreme"},
    ],
)
async def test_response_formats_and_tool_options_follow_the_spec(api: Api, body: dict) -> None:
    response = await api.client.post("/assistants", json={"model": "echo", **body})
    assert response.status_code == 400, response.text
    assert (await api.ok("GET", "/assistants"))["data"] == []


async def test_an_unexpected_error_is_a_500_envelope_with_a_request_id_and_rolls_back(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that writes and then fails: the answer is JSON, the write is gone, the log says it."""

    def write_then_fail(conn: Conn) -> None:
        storage_threads.create_thread(conn, {}, thread_id="thread_doomed")
        raise RuntimeError("bug after the write")

    async def doomed() -> None:
        await api.app.state.services.db.run(write_then_fail)

    api.app.add_api_route("/v1/threads/doomed/write", doomed, methods=["POST"])
    with caplog.at_level(logging.ERROR, logger="threads_server"):
        response = await api.client.post("/threads/doomed/write")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    request_id = response.headers["x-request-id"]
    assert error["type"] == "server_error" and request_id in error["message"]
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert (await api.client.get("/threads/thread_doomed")).status_code == 404
    # The server goes on serving.
    await api.thread("after")
