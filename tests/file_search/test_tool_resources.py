"""Bad ids and code_interpreter are a 400 with nothing stored; the `vector_stores` helper and thread
stores made from attachments (expiring 7 days after last activity). Every answer is checked against
the spec (the `api` fixture)."""

from __future__ import annotations

from tests.file_search.helpers import INCLUDE, store_body, store_files, upload
from tests.server.helpers import Api, parse_sse
from threadloom.threads_server import retrieval

SEARCH = [{"type": "file_search"}]


async def _counts(api: Api, thread_id: str) -> tuple[int, int, int]:
    assistants = len((await api.ok("GET", "/assistants"))["data"])
    messages = len(await api.messages(thread_id))
    runs = len((await api.ok("GET", f"/threads/{thread_id}/runs"))["data"])
    return assistants, messages, runs


async def _stores(api: Api) -> int:
    def count(conn):  # type: ignore[no-untyped-def]
        return conn.execute("SELECT COUNT(*) FROM vector_stores").fetchone()[0]

    return int(await api.app.state.services.db.run(count))


async def test_unknown_ids_and_code_interpreter_are_refused_and_nothing_is_stored(api: Api) -> None:
    database = api.app.state.services.db
    files = await upload(database, "bikes.md")
    assistant = await api.ok("POST", "/assistants", json={"model": "echo", "tools": SEARCH})
    thread = await api.thread("kept")
    tid, aid = thread["id"], assistant["id"]
    before, stores_before = await _counts(api, tid), await _stores(api)
    unknown_file = [{"file_id": "file-nope", "tools": SEARCH}]
    no_store = {"file_search": {"vector_store_ids": ["vs_nope"]}}
    helper = {"file_search": {"vector_stores": [{"file_ids": [files["bikes.md"], "file-x"]}]}}
    code_files = {"code_interpreter": {"file_ids": [files["bikes.md"]]}}
    cases = [
        ("/assistants", {"model": "echo", "tool_resources": no_store},
         "tool_resources.file_search.vector_store_ids[0]", "vs_nope"),
        (f"/assistants/{aid}", {"tool_resources": no_store},
         "tool_resources.file_search.vector_store_ids[0]", "vs_nope"),
        ("/threads", {"tool_resources": helper},
         "tool_resources.file_search.vector_stores[0].file_ids[1]", "file-x"),
        ("/threads", {"messages": [{"role": "user", "content": "a", "attachments": unknown_file}]},
         "messages[0].attachments[0].file_id", "file-nope"),
        (f"/threads/{tid}", {"tool_resources": no_store},
         "tool_resources.file_search.vector_store_ids[0]", "vs_nope"),
        (f"/threads/{tid}/messages", {"role": "user", "content": "a", "attachments": unknown_file},
         "attachments[0].file_id", "file-nope"),
        (f"/threads/{tid}/runs", {"assistant_id": aid, "additional_messages": [
            {"role": "user", "content": "a", "attachments": unknown_file}]},
         "additional_messages[0].attachments[0].file_id", "file-nope"),
        ("/threads/runs", {"assistant_id": aid, "thread": {"messages": [
            {"role": "user", "content": "a", "attachments": unknown_file}]}},
         "thread.messages[0].attachments[0].file_id", "file-nope"),
        ("/threads/runs", {"assistant_id": aid, "tool_resources": no_store},
         "tool_resources.file_search.vector_store_ids[0]", "vs_nope"),
    ]  # fmt: skip
    for path, body, param, bad in cases:
        response = await api.client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param, (path, error)
        assert bad in error["message"] and param in error["message"]

    code = {"type": "code_interpreter"}
    refusals = [
        ("/assistants", {"model": "echo", "tools": [SEARCH[0], code]}, "tools[1]"),
        (f"/assistants/{aid}", {"tools": [code]}, "tools[0]"),
        ("/assistants", {"model": "echo", "tool_resources": code_files},
         "tool_resources.code_interpreter"),
        (f"/threads/{tid}/runs", {"assistant_id": aid, "tools": [code]}, "tools[0]"),
        ("/threads/runs", {"assistant_id": aid, "tools": [code]}, "tools[0]"),
        (f"/threads/{tid}/messages", {"role": "user", "content": "a",
         "attachments": [{"file_id": files["bikes.md"], "tools": [code]}]}, "attachments[0].tools"),
    ]  # fmt: skip
    for path, body, param in refusals:
        response = await api.client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("unsupported_tool", param), (path, error)
        assert "code_interpreter tool is not provided" in error["message"]

    response = await api.client.post(
        f"/threads/{tid}/runs",
        params={"include[]": "step_details.everything"},
        json={"assistant_id": aid},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "include[]"

    assert await _counts(api, tid) == before
    assert await _stores(api) == stores_before
    assert (await api.ok("GET", f"/assistants/{aid}"))["tool_resources"] == {}
    assert (await api.ok("GET", f"/threads/{tid}"))["tool_resources"] == {}


async def test_the_vector_stores_helper_and_attachments_make_one_expiring_thread_store(api: Api) -> None:
    database = api.app.state.services.db
    files = await upload(database, "bikes.md", "garden.txt", "kettle.txt")
    helper = {"file_ids": [files["bikes.md"]], "chunking_strategy": {"type": "static", "static": {
        "max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}}, "metadata": {"k": "v"}}  # fmt: skip
    thread = await api.ok(
        "POST",
        "/threads",
        json={
            "tool_resources": {"file_search": {"vector_stores": [helper]}},
            "messages": [
                {
                    "role": "user",
                    "content": "a",
                    "attachments": [{"file_id": files["garden.txt"], "tools": SEARCH}],
                }
            ],
        },
    )
    (store_id,) = thread["tool_resources"]["file_search"]["vector_store_ids"]
    assert thread["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}
    assert await store_files(database, store_id) == [files["bikes.md"], files["garden.txt"]]
    store = await store_body(database, store_id)
    assert store["expires_after"] == {"anchor": "last_active_at", "days": 7}
    assert store["metadata"] == {"k": "v"}

    # An assistant's helper store does not expire.
    assistant = await api.ok(
        "POST",
        "/assistants",
        json={"model": "echo", "tools": SEARCH, "tool_resources": {"file_search": {"vector_stores": [
            {"file_ids": [files["kettle.txt"]]}]}}},
    )  # fmt: skip
    (own,) = assistant["tool_resources"]["file_search"]["vector_store_ids"]
    assert own != store_id and (await store_body(database, own)).get("expires_after") is None

    # The run searches both: the assistant's store and the thread's.
    await api.ok(
        "POST",
        f"/threads/{thread['id']}/messages",
        json={"role": "user", "content": "search: descale kettle\nsearch: tyres"},
    )
    created = await api.ok(
        "POST",
        f"/threads/{thread['id']}/runs",
        params={"include[]": INCLUDE},
        json={"assistant_id": assistant["id"]},
    )
    run = await api.wait(created)
    assert run["status"] == "completed"
    (reply,) = await api.messages(thread["id"], run_id=run["id"])
    text = reply["content"][0]["text"]
    cited = [a["file_citation"]["file_id"] for a in text["annotations"]]
    assert cited == [files["kettle.txt"], files["bikes.md"]]
    for annotation in text["annotations"]:
        assert text["value"][annotation["start_index"] : annotation["end_index"]] == annotation["text"]
    steps = (
        await api.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}/steps", params={"order": "asc"})
    )["data"]
    calls = steps[0]["step_details"]["tool_calls"]
    assert len(calls) == 2 and all(
        "content" not in r for c in calls for r in c["file_search"]["results"]
    )
    assert calls[0]["file_search"]["ranking_options"] == {"ranker": "auto", "score_threshold": 0.0}

    # A thread given a store id and an attachment: the attachment joins that store.
    garden = [{"file_id": files["garden.txt"], "tools": SEARCH}]
    other = await api.ok(
        "POST",
        "/threads",
        json={
            "tool_resources": {"file_search": {"vector_store_ids": [own]}},
            "messages": [{"role": "user", "content": "b", "attachments": garden}],
        },
    )
    assert other["tool_resources"]["file_search"]["vector_store_ids"] == [own]
    assert await store_files(database, own) == [files["kettle.txt"], files["garden.txt"]]


async def test_helper_chunking_out_of_range_is_refused(api: Api) -> None:
    database = api.app.state.services.db
    files = await upload(database, "bikes.md")
    for size, overlap, named in ((4096, 3000, "chunk_overlap_tokens"), (800, -1, "chunk_overlap_tokens"),
                                 (99, 0, "max_chunk_size_tokens")):  # fmt: skip
        static = {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}
        helper = {
            "file_ids": [files["bikes.md"]],
            "chunking_strategy": {"type": "static", "static": static},
        }
        response = await api.client.post(
            "/threads", json={"tool_resources": {"file_search": {"vector_stores": [helper]}}}
        )
        assert response.status_code == 400 and named in response.json()["error"]["message"]
    assert await retrieval.missing_files(database, [files["bikes.md"]]) == []
    assert await _stores(api) == 0


async def test_a_streamed_run_shows_the_search_step_and_the_cited_message(api: Api) -> None:
    database = api.app.state.services.db
    files = await upload(database, "kettle.txt")
    attach = [{"file_id": files["kettle.txt"], "tools": SEARCH}]
    message = {"role": "user", "content": "search: boils water", "attachments": attach}
    thread = await api.ok("POST", "/threads", json={"messages": [message]})
    assistant = await api.ok("POST", "/assistants", json={"model": "echo", "tools": SEARCH})
    events = await api.stream(f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    names = [name for name, _ in events]
    steps = [data for name, data in events if name == "thread.run.step.completed"]
    assert steps[0]["step_details"]["tool_calls"][0]["type"] == "file_search"
    assert "content" not in steps[0]["step_details"]["tool_calls"][0]["file_search"]["results"][0]
    (done,) = [data for name, data in events if name == "thread.message.completed"]
    (citation,) = done["content"][0]["text"]["annotations"]
    assert citation["file_citation"]["file_id"] == files["kettle.txt"]
    assert names.index("thread.run.step.created") < names.index("thread.message.created")
    assert names[-2:] == ["thread.run.completed", "done"]

    # With include[] on the create, the streamed step carries the results' content.
    await api.ok(
        "POST", f"/threads/{thread['id']}/messages", json={"role": "user", "content": "search: kettle"}
    )
    response = await api.client.post(
        f"/threads/{thread['id']}/runs",
        params={"include[]": INCLUDE},
        json={"assistant_id": assistant["id"], "stream": True},
    )
    streamed = [data for name, data in parse_sse(response.text) if name == "thread.run.step.completed"]
    result = streamed[0]["step_details"]["tool_calls"][0]["file_search"]["results"][0]
    assert "Descale the kettle" in result["content"][0]["text"]


async def test_a_round_searched_again_keeps_one_search_step(api: Api) -> None:
    """A run executed again (a takeover) records its round's searches once, not twice."""
    from threadloom.threads_server.storage import search_steps

    assistant = await api.ok("POST", "/assistants", json={"model": "echo", "tools": SEARCH})
    thread = await api.thread("stall here")
    run = await api.run(thread["id"], assistant["id"], metadata={"fault": "stall"})
    run = await api.wait(run, until={"in_progress"})
    details = {
        "type": "tool_calls",
        "tool_calls": [{"id": "call_1", "type": "file_search", "file_search": {}}],
    }
    database = api.app.state.services.db
    first = await database.run(search_steps.record, run["id"], details)
    second = await database.run(search_steps.record, run["id"], details)
    assert first is not None and second is not None
    page = await api.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}/steps")
    assert [step["id"] for step in page["data"]] == [second["id"]]
    await api.ok("POST", f"/threads/{thread['id']}/runs/{run['id']}/cancel")


async def test_create_thread_and_run_with_an_attachment_searches_the_new_threads_store(api: Api) -> None:
    files = await upload(api.app.state.services.db, "garden.txt")
    assistant = await api.ok("POST", "/assistants", json={"model": "echo", "tools": SEARCH})
    message = {
        "role": "user",
        "content": "search: tomatoes",
        "attachments": [{"file_id": files["garden.txt"], "tools": SEARCH}],
    }
    run = await api.ok(
        "POST",
        "/threads/runs",
        json={"assistant_id": assistant["id"], "thread": {"messages": [message]}},
    )
    thread = await api.ok("GET", f"/threads/{run['thread_id']}")
    (store_id,) = thread["tool_resources"]["file_search"]["vector_store_ids"]
    assert await store_files(api.app.state.services.db, store_id) == [files["garden.txt"]]
    run = await api.wait(run)
    (reply,) = await api.messages(run["thread_id"], run_id=run["id"])
    text = reply["content"][0]["text"]
    assert "Water the tomatoes at dawn." in text["value"]
    assert text["annotations"][0]["file_citation"]["file_id"] == files["garden.txt"]
