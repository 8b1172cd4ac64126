"""A small in-memory Threads API behind ``httpx.MockTransport``, for the client's tests.

It holds threads, messages and runs, answers in the spec's wire format, paginates with
``limit``/``order``/``after``, filters messages by ``run_id``, and moves each run through a
scripted list of statuses, one step per ``GET`` of the run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from threadloom.threads_client import ThreadsClient

Handler = Callable[[httpx.Request], httpx.Response]


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None, code: str | None = None
) -> httpx.Response:
    """An answer in the API's error envelope."""
    envelope = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return httpx.Response(status, json={"error": envelope}, headers=headers)


def run_object(run_id: str, thread_id: str, status: str, **fields: Any) -> dict[str, Any]:
    """A run with every field the spec requires."""
    run: dict[str, Any] = {
        "id": run_id,
        "object": "thread.run",
        "created_at": 1_700_000_000,
        "thread_id": thread_id,
        "assistant_id": "asst_1",
        "status": status,
        "required_action": None,
        "last_error": None,
        "expires_at": 1_700_000_600,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": "echo",
        "instructions": None,
        "tools": [],
        "metadata": {},
        "usage": None,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
    }
    run.update(fields)
    return run


def message_object(message_id: str, thread_id: str, text: str, **fields: Any) -> dict[str, Any]:
    """A text message with every field the spec requires."""
    message: dict[str, Any] = {
        "id": message_id,
        "object": "thread.message",
        "created_at": 1_700_000_000,
        "thread_id": thread_id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": 1_700_000_000,
        "incomplete_at": None,
        "role": "user",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
    }
    message.update(fields)
    return message


@dataclass
class FakeThreadsAPI:
    """The fake server's state and its request handler.

    Attributes:
        run_script: Statuses a new run goes through; each GET of the run advances one step and
            the last one stays.
        run_fields: Extra fields per status (e.g. ``required_action`` for ``requires_action``).
        poll_after_ms: Sent as ``openai-poll-after-ms`` on GET run while the run is active.
        requests: Every request received, in order.
    """

    run_script: Sequence[str] = ("queued", "in_progress", "completed")
    run_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    poll_after_ms: int | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_reads: dict[str, int] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def client(self, **options: Any) -> ThreadsClient:
        """A client whose requests this fake answers."""
        options.setdefault("max_retries", 0)
        return ThreadsClient(
            "http://threads.test/v1", "sk-test", transport=httpx.MockTransport(self), **options
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.removeprefix("/v1/").split("/")
        payload = json.loads(request.content) if request.content else {}
        route = (request.method, len(parts), parts[-1] if len(parts) in (3, 5) else "")
        if route == ("POST", 1, ""):
            return self._create_thread(payload)
        thread_id = parts[1]
        if thread_id not in self.threads:
            return error_response(404, f"No thread found with id '{thread_id}'.")
        if route == ("GET", 2, ""):
            return httpx.Response(200, json=self.threads[thread_id])
        if route == ("POST", 3, "messages"):
            return self._create_message(thread_id, payload)
        if route == ("GET", 3, "messages"):
            return self._list_messages(request, thread_id)
        if route == ("POST", 3, "runs"):
            return self._create_run(thread_id, payload)
        if route == ("GET", 4, ""):
            return self._read_run(parts[3])
        if route == ("POST", 5, "cancel"):
            self.runs[parts[3]]["status"] = "cancelling"
            return httpx.Response(200, json=self.runs[parts[3]])
        return error_response(404, f"Unknown route {request.method} {request.url.path}")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self.ids):04d}"

    def _create_thread(self, payload: dict[str, Any]) -> httpx.Response:
        thread_id = self._new_id("thread")
        self.threads[thread_id] = {
            "id": thread_id,
            "object": "thread",
            "created_at": 1_700_000_000,
            "tool_resources": None,
            "metadata": payload.get("metadata") or {},
        }
        self.messages[thread_id] = []
        for message in payload.get("messages") or []:
            self._create_message(thread_id, message)
        return httpx.Response(200, json=self.threads[thread_id])

    def _create_message(self, thread_id: str, payload: dict[str, Any]) -> httpx.Response:
        content = payload.get("content")
        if not content:
            return error_response(400, "Message content must be non-empty.")
        text = content if isinstance(content, str) else content[0]["text"]
        message = message_object(
            self._new_id("msg"),
            thread_id,
            text,
            role=payload.get("role", "user"),
            metadata=payload.get("metadata") or {},
        )
        self.messages[thread_id].append(message)
        return httpx.Response(200, json=message)

    def _list_messages(self, request: httpx.Request, thread_id: str) -> httpx.Response:
        params = request.url.params
        items = list(self.messages[thread_id])
        if params.get("order", "desc") == "desc":
            items.reverse()
        if "run_id" in params:
            items = [item for item in items if item["run_id"] == params["run_id"]]
        if "after" in params:
            ids = [item["id"] for item in items]
            items = items[ids.index(params["after"]) + 1 :]
        limit = int(params.get("limit", 20))
        page, rest = items[:limit], items[limit:]
        body = {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": bool(rest),
        }
        return httpx.Response(200, json=body)

    def _create_run(self, thread_id: str, payload: dict[str, Any]) -> httpx.Response:
        run_id = self._new_id("run")
        status = self.run_script[0]
        self.runs[run_id] = run_object(
            run_id,
            thread_id,
            status,
            assistant_id=payload["assistant_id"],
            metadata=payload.get("metadata") or {},
            **self.run_fields.get(status, {}),
        )
        self.run_reads[run_id] = 0
        return httpx.Response(200, json=self.runs[run_id])

    def _read_run(self, run_id: str) -> httpx.Response:
        run = self.runs[run_id]
        if run["status"] == "cancelling":
            run["status"] = "cancelled"
        else:
            self.run_reads[run_id] += 1
            step = min(self.run_reads[run_id], len(self.run_script) - 1)
            run["status"] = self.run_script[step]
            run.update(self.run_fields.get(run["status"], {}))
        headers = {}
        active = run["status"] in ("queued", "in_progress", "cancelling")
        if self.poll_after_ms is not None and active:
            headers["openai-poll-after-ms"] = str(self.poll_after_ms)
        return httpx.Response(200, json=run, headers=headers)
