"""Threads, messages and assistants: CRUD, lists, cursors, deletion."""

from __future__ import annotations

import re

from tests.server.helpers import Api

ID = re.compile(r"^(thread|msg|asst)_[A-Za-z0-9]{24}$")


async def test_thread_crud_with_initial_messages(api: Api) -> None:
    thread = await api.thread("first", "second", metadata={"user": "u1"})
    assert ID.match(thread["id"]) and thread["metadata"] == {"user": "u1"}
    assert [m["content"][0]["text"]["value"] for m in await api.messages(thread["id"])] == [
        "first",
        "second",
    ]
    assert await api.ok("GET", f"/threads/{thread['id']}") == thread
    changed = await api.ok("POST", f"/threads/{thread['id']}", json={"metadata": {"k": "v"}})
    assert changed["metadata"] == {"k": "v"}
    deleted = await api.ok("DELETE", f"/threads/{thread['id']}")
    assert deleted == {"id": thread["id"], "object": "thread.deleted", "deleted": True}
    response = await api.client.get(f"/threads/{thread['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"No thread found with id '{thread['id']}'."


async def test_empty_body_creates_an_empty_thread(api: Api) -> None:
    thread = await api.ok("POST", "/threads")
    assert thread["object"] == "thread" and await api.messages(thread["id"]) == []


async def test_message_crud_and_content_parts(api: Api) -> None:
    thread = await api.thread()
    message = await api.ok(
        "POST",
        f"/threads/{thread['id']}/messages",
        json={
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
            "metadata": {"turn": "t1"},
        },
    )
    assert ID.match(message["id"])
    assert message["run_id"] is None and message["assistant_id"] is None
    assert message["content"][0] == {"type": "text", "text": {"value": "look", "annotations": []}}
    path = f"/threads/{thread['id']}/messages/{message['id']}"
    assert await api.ok("GET", path) == message
    assert (await api.ok("POST", path, json={"metadata": {"a": "b"}}))["metadata"] == {"a": "b"}
    assert (await api.ok("DELETE", path))["object"] == "thread.message.deleted"
    assert (await api.client.get(path)).status_code == 404


async def test_list_order_cursors_and_limit(api: Api) -> None:
    thread = await api.thread(*[f"m{i}" for i in range(5)])
    path = f"/threads/{thread['id']}/messages"
    newest_first = await api.ok("GET", path)
    texts = [m["content"][0]["text"]["value"] for m in newest_first["data"]]
    assert texts == ["m4", "m3", "m2", "m1", "m0"]
    page = await api.ok("GET", path, params={"order": "asc", "limit": 2})
    assert [m["content"][0]["text"]["value"] for m in page["data"]] == ["m0", "m1"]
    assert page["has_more"] and page["first_id"] == page["data"][0]["id"]
    page2 = await api.ok("GET", path, params={"order": "asc", "limit": 2, "after": page["last_id"]})
    assert [m["content"][0]["text"]["value"] for m in page2["data"]] == ["m2", "m3"]
    last = await api.ok("GET", path, params={"order": "asc", "limit": 2, "after": page2["last_id"]})
    assert [m["content"][0]["text"]["value"] for m in last["data"]] == ["m4"]
    assert not last["has_more"]
    before = await api.ok("GET", path, params={"order": "asc", "before": page2["last_id"]})
    assert [m["content"][0]["text"]["value"] for m in before["data"]] == ["m0", "m1", "m2"]
    empty = await api.ok("GET", f"/threads/{(await api.thread())['id']}/messages")
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


async def test_assistant_crud(api: Api) -> None:
    assistant = await api.assistant(name="helper", instructions="Be brief.", metadata={"a": "1"})
    assert ID.match(assistant["id"]) and assistant["object"] == "assistant"
    path = f"/assistants/{assistant['id']}"
    assert await api.ok("GET", path) == assistant
    changed = await api.ok("POST", path, json={"name": "renamed", "temperature": 0.5})
    assert changed["name"] == "renamed" and changed["temperature"] == 0.5
    listed = await api.ok("GET", "/assistants", params={"limit": 100})
    assert assistant["id"] in [a["id"] for a in listed["data"]]
    assert await api.ok("DELETE", path) == {
        "id": assistant["id"],
        "object": "assistant.deleted",
        "deleted": True,
    }
    assert (await api.client.get(path)).status_code == 404
