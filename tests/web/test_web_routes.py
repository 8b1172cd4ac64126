"""The chat page's server over real HTTP: the page and its files, assistants, a conversation's history,
and the guard (loopback host names, JSON-only POSTs, the key off loopback)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.web.conftest import UI
from threadloom.starter.api import Threadloom
from threadloom.starter.settings import Settings
from threadloom.starter.web import WebServerError, running_web_server
from threadloom.starter.web.app import WebContext
from threadloom.starter.web.server import start_for_dev_stack, web_command
from threadloom.threads_client import ThreadsClient


async def test_the_page_and_its_two_files_are_served_and_nothing_else(web: httpx.AsyncClient) -> None:
    page = await web.get("/chat", params={"conversation": "c-1"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/chat.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script, style = await web.get("/static/chat.js"), await web.get("/static/chat.css")
    assert script.status_code == 200 and "text/javascript" in script.headers["content-type"]
    assert "Last-Event-ID" in script.text and style.status_code == 200
    for other in ("/static/chat.html", "/static/..%2Fapp.py", "/static/"):
        assert (await web.get(other)).status_code == 404, other
    root = await web.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/chat"
    reopen = await web.get("/", params={"conversation": "c-1"})
    assert reopen.headers["location"] == "/chat?conversation=c-1"


async def test_an_assistant_made_on_the_page_is_listed(web: httpx.AsyncClient) -> None:
    name = f"page assistant {uuid.uuid4().hex[:6]}"
    made = await web.post("/api/assistants", json={"name": name, "instructions": "Be brief."})
    assert made.status_code == 201
    assert made.json()["name"] == name and made.json()["model"] == "echo"
    listed = (await web.get("/api/assistants")).json()["data"]
    assert listed[0] == made.json()  # newest first

    nameless = await web.post("/api/assistants", json={"instructions": "x"})
    assert nameless.status_code == 400
    assert nameless.json() == {"error": {"type": "InvalidRequest", "message": "'name' is required"}}
    form = await web.post("/api/assistants", data={"name": "from a form"})
    assert form.status_code == 415  # a cross-site form cannot make one


async def test_an_unknown_conversation_is_a_404(web: httpx.AsyncClient) -> None:
    answer = await web.get(f"/api/conversations/never-{uuid.uuid4().hex[:8]}")
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "ConversationNotFound"


@pytest.mark.usefixtures("engine_worker")
async def test_a_conversation_is_offered_and_reopens_with_its_messages_and_links(
    web: httpx.AsyncClient, loom: Threadloom
) -> None:
    made = await web.post("/api/assistants", json={"name": "reopen test"})
    assistant_id = made.json()["id"]
    conversation = f"web-{uuid.uuid4().hex[:8]}"
    first = await loom.send(conversation, "Hello page", assistant_id=assistant_id, turn_key="k1")
    await loom.send(conversation, "Second line", assistant_id=assistant_id, turn_key="k2")
    answer = await web.get(f"/api/conversations/{conversation}")
    assert answer.status_code == 200
    found = answer.json()
    assert found["assistant_id"] == assistant_id and found["running"] is True
    assert found["ui_url"] == f"{UI}/namespaces/default/workflows/conversation-{conversation}"
    shown = [(m["role"], m["text"]) for m in found["messages"]]
    assert shown == [
        ("user", "Hello page"),
        ("assistant", "Echo: Hello page"),
        ("user", "Second line"),
        ("assistant", "Echo: Second line"),
    ]
    assert found["messages"][1]["id"] == first.reply_message_ids[0]
    turn = f"turn-{found['thread_id']}-k1"
    assert found["messages"][1]["workflow_id"] == turn
    assert found["messages"][1]["ui_url"] == f"{UI}/namespaces/default/workflows/{turn}"

    other = f"web-{uuid.uuid4().hex[:8]}"
    await loom.send(other, "Another one", assistant_id=assistant_id)
    async with asyncio.timeout(10):  # Temporal's visibility follows a moment later
        while True:
            offered = (await web.get("/api/conversations", params={"assistant": assistant_id})).json()
            if len(offered["data"]) == 2:
                break
            await asyncio.sleep(0.1)
    assert [c["conversation_id"] for c in offered["data"]] == [other, conversation]  # newest first
    assert {c["assistant_id"] for c in offered["data"]} == {assistant_id}
    injected = await web.get("/api/conversations", params={"assistant": 'x" OR WorkflowId!="'})
    assert injected.status_code == 400


async def test_a_host_name_other_than_loopback_is_refused(web_url: str) -> None:
    async with httpx.AsyncClient(base_url=web_url) as client:
        rebound = await client.get("/api/assistants", headers={"host": "evil.example:8701"})
        assert rebound.status_code == 421
        assert (await client.get("/chat", headers={"host": "localhost:8701"})).status_code == 200
        assert (await client.get("/chat", headers={"host": "[::1]:8701"})).status_code == 200


async def test_with_a_key_the_browser_logs_in_once(loom: Threadloom, threads: ThreadsClient) -> None:
    context = WebContext(loom, threads, UI, "default")
    async with (
        running_web_server(context, key="s3cret") as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        assert (await client.get("/chat")).status_code == 401
        assert (await client.get("/api/assistants")).json()["error"]["type"] == "Unauthorized"
        assert (await client.get("/chat", params={"key": "wrong"})).status_code == 401
        login = await client.get("/chat", params={"key": "s3cret", "conversation": "c1"})
        assert login.status_code == 303 and login.headers["location"] == "/chat?conversation=c1"
        assert "httponly" in login.headers["set-cookie"].lower()
        assert (await client.get("/api/assistants")).status_code == 200  # the cookie
        bearer = {"authorization": "Bearer s3cret"}
        async with httpx.AsyncClient(base_url=url, headers=bearer) as api:
            assert (await api.get("/api/assistants")).status_code == 200


async def test_off_loopback_without_a_key_nothing_starts(
    loom: Threadloom, threads: ThreadsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    context = WebContext(loom, threads, UI, "default")
    with pytest.raises(
        WebServerError, match=r"refusing to serve the chat page on 0\.0\.0\.0 without a key"
    ):
        async with running_web_server(context, host="0.0.0.0"):
            pass
    args = argparse.Namespace(host="0.0.0.0", port=None, ui_url=None)
    # Settings point at no Temporal at all: the refusal comes before any connection.
    assert await web_command(args, Settings(temporal_address="127.0.0.1:9")) == 2
    assert "threadloom web: refusing to serve the chat page on 0.0.0.0" in capsys.readouterr().err


async def test_dev_serves_the_page_beside_its_stack_and_skips_it_on_a_taken_port(
    temporal_env: WorkflowEnvironment, threads_server: Any
) -> None:
    settings = Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        threads_base_url=threads_server.base_url,
        web_port=0,
    )
    said: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        url = await start_for_dev_stack(settings, stack, said.append, ui_url=UI)
        assert url is not None and said == [f"  chat page at {url}"]
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 200
            assert (await client.get(url.replace("/chat", "/api/assistants"))).status_code == 200
        taken = int(url.rsplit(":", 1)[1].split("/")[0])
        said.clear()
        again = settings.model_copy(update={"web_port": taken})
        assert await start_for_dev_stack(again, stack, said.append, ui_url=UI) is None
    assert said == [
        f"  chat page not started: the chat page cannot listen on 127.0.0.1:{taken} (Address "
        "already in use); move it with THREADLOOM_WEB_PORT (or --port)"
    ]
