"""A thin test wrapper around the in-process app: create objects, wait for runs, read SSE."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tests.server.spec import SpecValidator

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}
ECHO_TOOLS = [
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "lookup"}},
]


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """`[(event, data)]` from an SSE body; `data` is JSON-decoded except `[DONE]`."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = lines["data"]
        events.append((lines["event"], data if data == "[DONE]" else json.loads(data)))
    return events


def validating_hook(spec: SpecValidator) -> Callable[[httpx.Response], Any]:
    """An httpx response hook validating every JSON answer under `/v1`."""

    async def check(response: httpx.Response) -> None:
        path = response.request.url.path
        if not path.startswith("/v1") or "text/event-stream" in response.headers.get("content-type", ""):
            return
        await response.aread()
        spec.validate_response(
            response.request.method, path.removeprefix("/v1"), response.status_code, response.json()
        )

    return check


def checked_client(base_url: str, spec: SpecValidator, **options: Any) -> httpx.AsyncClient:
    """An httpx client whose every `/v1` JSON answer is validated against the spec."""
    return httpx.AsyncClient(
        base_url=base_url, event_hooks={"response": [validating_hook(spec)]}, **options
    )


@dataclass
class Api:
    """The client, the app and the validator of one test."""

    client: httpx.AsyncClient
    app: FastAPI
    spec: SpecValidator

    async def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send; assert 200; the JSON body."""
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def assistant(self, **fields: Any) -> dict[str, Any]:
        """Create an echo assistant with the two test tools."""
        return await self.ok(
            "POST", "/assistants", json={"model": "echo", "tools": ECHO_TOOLS, **fields}
        )

    async def thread(self, *texts: str, **fields: Any) -> dict[str, Any]:
        """Create a thread with user messages."""
        messages = [{"role": "user", "content": text} for text in texts]
        return await self.ok("POST", "/threads", json={"messages": messages, **fields})

    async def run(self, thread_id: str, assistant_id: str, **fields: Any) -> dict[str, Any]:
        """Create a run."""
        return await self.ok(
            "POST", f"/threads/{thread_id}/runs", json={"assistant_id": assistant_id, **fields}
        )

    async def wait(self, run: dict[str, Any], *, until: set[str] | None = None) -> dict[str, Any]:
        """Long-poll the run until its status is in `until` (default: terminal or requires_action).

        Gives up after 30 s: no run in these tests takes longer, and a stuck one should fail fast.
        """
        until = until or TERMINAL | {"requires_action"}
        for _ in range(15):
            if run["status"] in until:
                return run
            run = await self.ok(
                "GET",
                f"/threads/{run['thread_id']}/runs/{run['id']}",
                params={"wait_ms": 2000, "if_status": run["status"]},
            )
        raise AssertionError(f"run stuck in {run['status']}")

    async def messages(self, thread_id: str, **params: Any) -> list[dict[str, Any]]:
        """Every message of the thread in ascending order."""
        page = await self.ok(
            "GET", f"/threads/{thread_id}/messages", params={"order": "asc", "limit": 100, **params}
        )
        return list(page["data"])

    async def reply_text(self, thread_id: str, run_id: str) -> str:
        """The text of the (single) message the run created."""
        (message,) = await self.messages(thread_id, run_id=run_id)
        return str(message["content"][0]["text"]["value"])

    async def stream(self, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
        """POST with `stream: true`; the events, each validated against the spec."""
        response = await self.client.post(path, json={**body, "stream": True})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.text)
        for event, data in events:
            self.spec.validate_event(event, data)
        return events


async def new_thread(client: httpx.AsyncClient, text: str) -> str:
    """Create a thread with one user message; its id."""
    body = {"messages": [{"role": "user", "content": text}]}
    return str((await client.post("/threads", json=body)).json()["id"])


async def new_assistant(client: httpx.AsyncClient) -> str:
    """Create an echo assistant with the test tools; its id."""
    body = {"model": "echo", "tools": ECHO_TOOLS}
    return str((await client.post("/assistants", json=body)).json()["id"])


async def wait_until(check: Any, what: str, seconds: float = 10.0) -> None:
    """Poll `check()` until true; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up after {seconds} s waiting for {what}"
        await asyncio.sleep(0.02)


async def waiting_run(client: httpx.AsyncClient, assistant_id: str) -> dict[str, Any]:
    """A run on a new thread, once it requires action (one `lookup` call)."""
    thread_id = await new_thread(client, "/tool lookup")
    run = (await client.post(f"/threads/{thread_id}/runs", json={"assistant_id": assistant_id})).json()
    got: dict[str, Any] = (
        await client.get(
            f"/threads/{thread_id}/runs/{run['id']}",
            params={"wait_ms": 5000, "if_status": "queued,in_progress"},
        )
    ).json()
    assert got["status"] == "requires_action"
    return got
