"""The threads server's re-attachable run event stream (`GET …/runs/{run_id}/events`)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.server.helpers import parse_sse


def frames(text: str) -> list[dict[str, str]]:
    """Each SSE block as its fields (`id`, `event`, `data`, and `at` from `: at=` comments)."""
    found = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(": at="):
                fields["at"] = line.removeprefix(": at=")
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        found.append(fields)
    return found


async def finished_run(http: httpx.AsyncClient, assistant_id: str, text: str) -> tuple[str, str]:
    thread = (await http.post("threads", json={})).json()["id"]
    body = {"assistant_id": assistant_id, "additional_messages": [{"role": "user", "content": text}]}
    run = (await http.post(f"threads/{thread}/runs", json=body)).json()

    for _ in range(200):
        got = (await http.get(f"threads/{thread}/runs/{run['id']}")).json()
        if got["status"] == "completed":
            return thread, run["id"]
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run['id']} did not complete")


async def test_a_finished_runs_events_replay_from_any_offset(
    threads_server: Any, assistant_id: str
) -> None:
    async with httpx.AsyncClient(base_url=threads_server.base_url) as http:
        thread, run = await finished_run(http, assistant_id, "one two three four five six seven")
        whole = await http.get(f"threads/{thread}/runs/{run}/events")
        assert whole.status_code == 200
        assert whole.headers["threadloom-run-events"] == "1"
        events = frames(whole.text)
        assert [e["id"] for e in events[:-1]] == [str(i) for i in range(1, len(events))]
        assert events[-1] == {"event": "done", "data": "[DONE]"}
        names = [name for name, _ in parse_sse(whole.text)]
        assert names[0] == "thread.run.created" and names[-2:] == ["thread.run.completed", "done"]
        deltas = [data for name, data in parse_sse(whole.text) if name == "thread.message.delta"]
        text = "".join(d["delta"]["content"][0]["text"]["value"] for d in deltas)
        assert text == "Echo: one two three four five six seven"

        tail = frames((await http.get(f"threads/{thread}/runs/{run}/events?after=3")).text)
        assert tail[:-1] == events[3:-1]
        stamped = frames((await http.get(f"threads/{thread}/runs/{run}/events?threadloom_at=true")).text)
        assert all(float(e["at"]) > 0 for e in stamped[:-1])


async def test_bad_requests_of_the_run_event_stream(threads_server: Any, assistant_id: str) -> None:
    async with httpx.AsyncClient(base_url=threads_server.base_url) as http:
        thread, run = await finished_run(http, assistant_id, "hi")
        count = len(frames((await http.get(f"threads/{thread}/runs/{run}/events")).text)) - 1
        past = await http.get(f"threads/{thread}/runs/{run}/events?after={count + 1}")
        assert past.status_code == 400
        assert past.json()["error"]["param"] == "after"
        unknown = await http.get(f"threads/{thread}/runs/run_nope/events")
        assert unknown.status_code == 404
        negative = await http.get(f"threads/{thread}/runs/{run}/events?after=-1")
        assert negative.status_code == 400
