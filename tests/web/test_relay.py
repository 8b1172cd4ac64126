"""The chat page's SSE relay over real HTTP: a streamed conversation turn, a resume from
`Last-Event-ID`, and bad input answered with a 4xx (or a 204 when nothing is left)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import UI
from threadloom.starter.api import Threadloom
from threadloom.starter.web.relay import paced
from threadloom.threads_client import ThreadsClient

pytestmark = pytest.mark.usefixtures("engine_worker")


def parse_sse(body: str) -> list[tuple[int | None, dict[str, Any]]]:
    """The (id, data) of each SSE message that has data; comments and `retry:` are skipped."""
    messages = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        data = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
        ids = [int(line[len("id: ") :]) for line in lines if line.startswith("id: ")]
        if data:
            messages.append((ids[0] if ids else None, json.loads("\n".join(data))))
    return messages


async def _send(web: httpx.AsyncClient, conversation: str, **body: Any) -> httpx.Response:
    return await web.post(f"/api/conversations/{conversation}/turns", json=body)


async def test_a_turn_streams_through_the_relay_and_resumes_after_any_offset(
    web: httpx.AsyncClient, assistant_id: str
) -> None:
    conversation = f"relay-{uuid.uuid4().hex[:8]}"
    text = "one two three four five six seven eight nine ten eleven twelve"
    sent = await _send(web, conversation, text=text, assistant_id=assistant_id, turn_key="t1")
    assert sent.status_code == 200 and sent.headers["content-type"].startswith("text/event-stream")
    assert sent.text.startswith("retry: ")
    (_, head), *events = parse_sse(sent.text)
    workflow_id = head["workflow_id"]
    assert head == {
        "type": "turn",
        "conversation_id": conversation,
        "conversation_ui_url": f"{UI}/namespaces/default/workflows/conversation-{conversation}",
        "thread_id": workflow_id.removeprefix("turn-").removesuffix("-t1"),
        "turn_key": "t1",
        "workflow_id": workflow_id,
        "ui_url": f"{UI}/namespaces/default/workflows/{workflow_id}",
    }
    assert [event_id for event_id, _ in events] == list(range(len(events)))
    assert [data["offset"] for _, data in events] == list(range(len(events)))
    deltas = [data["text"] for _, data in events if data["type"] == "text_delta"]
    final = events[-1][1]
    assert final["type"] == "turn_finished" and final["result"]["reply"] == f"Echo: {text}"
    assert len(deltas) >= 3 and "".join(deltas) == f"Echo: {text}"

    # A browser that lost the stream after offset 2 gets the rest once, and nothing else.
    resumed = await web.get(f"/api/turns/{workflow_id}/events", headers={"last-event-id": "2"})
    assert resumed.status_code == 200
    assert parse_sse(resumed.text) == events[3:]
    everything = await web.get(f"/api/turns/{workflow_id}/events")  # a second tab, from the start
    assert parse_sse(everything.text) == events
    last = len(events) - 1
    done = await web.get(f"/api/turns/{workflow_id}/events", headers={"last-event-id": str(last)})
    assert done.status_code == 204  # nothing left: an EventSource stops reconnecting

    past = await web.get(f"/api/turns/{workflow_id}/events", params={"after": last + 5})
    assert past.status_code == 400
    assert past.json()["error"]["type"] == "StreamError"
    assert f"offset {last + 5} is past the end" in past.json()["error"]["message"]
    for bad in ("abc", "-1", "1.5"):
        answer = await web.get(f"/api/turns/{workflow_id}/events", headers={"last-event-id": bad})
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["type"] == "InvalidOffset"


async def test_an_unknown_turn_is_a_404(web: httpx.AsyncClient) -> None:
    answer = await web.get(f"/api/turns/turn-thread_none-{uuid.uuid4().hex}/events")
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "StreamError"


async def test_a_turn_without_text_or_with_an_unknown_assistant_is_a_4xx(
    web: httpx.AsyncClient, assistant_id: str
) -> None:
    conversation = f"relay-{uuid.uuid4().hex[:8]}"
    for body, missing in (({"assistant_id": assistant_id}, "text"), ({"text": "hi"}, "assistant_id")):
        answer = await _send(web, conversation, **body)
        assert answer.status_code == 400
        assert answer.json()["error"] == {
            "type": "InvalidRequest",
            "message": f"{missing!r} is required",
        }
    tools = await _send(web, conversation, text="hi", assistant_id=assistant_id, tools="get_weather")
    assert tools.status_code == 400
    # Nothing was sent: the conversation never started.
    assert (await web.get(f"/api/conversations/{conversation}")).status_code == 404

    unknown = await _send(web, f"{conversation}-b", text="hi", assistant_id="asst_nope")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "AssistantNotFound"


async def test_a_second_tab_finds_a_turn_still_running_and_follows_it_from_the_start(
    web: httpx.AsyncClient, web_loom: Threadloom, threads: ThreadsClient, assistant_id: str
) -> None:
    conversation = f"relay-{uuid.uuid4().hex[:8]}"
    text = " ".join(f"w{i}" for i in range(40))  # 11 deltas, 150 ms apart
    slow = {"echo_chunk_delay_ms": "150"}  # the session's server honours it (faults enabled)
    sending = asyncio.create_task(
        web_loom.send(conversation, text, assistant_id=assistant_id, turn_key="t1", metadata=slow)
    )
    try:
        async with asyncio.timeout(30):
            while True:  # until the reply is being written
                found = (await web.get(f"/api/conversations/{conversation}")).json()
                thread_id = found.get("thread_id")
                if thread_id:
                    writing = [m async for m in threads.threads.messages.list(thread_id)]
                    if any(m.role == "assistant" and m.status == "in_progress" for m in writing):
                        break
                await asyncio.sleep(0.05)
        reopened = (await web.get(f"/api/conversations/{conversation}")).json()
        # The reply being written is left out; the page follows the last user message's turn.
        assert [(m["role"], m["text"]) for m in reopened["messages"]] == [("user", text)]
        workflow_id = reopened["messages"][0]["workflow_id"]
        followed = await web.get(f"/api/turns/{workflow_id}/events")
        events = [data for _, data in parse_sse(followed.text)]
        assert [data["offset"] for data in events] == list(range(len(events)))
        deltas = "".join(data["text"] for data in events if data["type"] == "text_delta")
        assert deltas == events[-1]["result"]["reply"] == f"Echo: {text}"
        assert (await sending).reply == f"Echo: {text}"
    finally:
        sending.cancel()


async def test_a_turn_that_fails_after_its_first_event_ends_its_stream_with_the_error(
    web: httpx.AsyncClient, threads: ThreadsClient
) -> None:
    failing = await threads.assistants.create(
        model="echo", name="relay failing", metadata={"fault": "fail=invalid_prompt"}
    )
    conversation = f"relay-{uuid.uuid4().hex[:8]}"
    answer = await _send(web, conversation, text="hello", assistant_id=failing.id)
    assert answer.status_code == 200  # the run was created: the stream had begun
    *events, (last_id, last) = parse_sse(answer.text)
    assert events[0][1]["type"] == "turn" and last_id is None
    assert last["type"] == "error" and last["error"] == "RunFailed"
    assert "invalid_prompt" in last["message"]


async def test_a_quiet_stream_gets_keepalives_and_loses_no_event() -> None:
    async def slow() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(0.2)
        yield 2

    got = [event async for event in paced(slow(), keepalive=0.05)]
    assert [event for event in got if event is not None] == [1, 2]
    assert got[0] == 1 and got[-1] == 2 and got.count(None) >= 2
