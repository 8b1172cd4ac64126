"""Every call reaches its endpoint of the URL tree with its method and body, and parses the answer."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from threadloom.threads_client import (
    Assistant,
    DeletionStatus,
    Message,
    Run,
    RunStep,
    Thread,
    ThreadsClient,
)

from .fake_api import message_object, run_object

THREAD = {"id": "thread_1", "object": "thread", "created_at": 1, "tool_resources": None, "metadata": {}}
ASSISTANT = {"id": "asst_1", "object": "assistant", "created_at": 1, "model": "echo", "tools": []}
STEP = {
    "id": "step_1",
    "object": "thread.run.step",
    "created_at": 1,
    "assistant_id": "asst_1",
    "thread_id": "thread_1",
    "run_id": "run_1",
    "type": "message_creation",
    "status": "completed",
    "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
}
RUN = run_object("run_1", "thread_1", "queued")
MESSAGE = message_object("msg_1", "thread_1", "hi")


def listing(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [item],
        "first_id": item["id"],
        "last_id": item["id"],
        "has_more": False,
    }


def deleted(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": kind, "deleted": True}


Call = Callable[[ThreadsClient], Awaitable[Any]]


async def first(page: Any) -> Any:
    return (await page).data[0]


CASES: list[tuple[str, Call, str, str, dict[str, Any] | None, dict[str, Any], type]] = [
    (
        "thread update",
        lambda c: c.threads.update("thread_1", metadata={"a": "1"}),
        "POST",
        "/threads/thread_1",
        {"metadata": {"a": "1"}},
        THREAD,
        Thread,
    ),
    (
        "thread delete",
        lambda c: c.threads.delete("thread_1"),
        "DELETE",
        "/threads/thread_1",
        None,
        deleted("thread_1", "thread.deleted"),
        DeletionStatus,
    ),
    (
        "create and run",
        lambda c: c.threads.create_and_run(
            assistant_id="asst_1",
            thread={"messages": []},
            tool_resources={"code_interpreter": {"file_ids": []}},
        ),
        "POST",
        "/threads/runs",
        {
            "assistant_id": "asst_1",
            "thread": {"messages": []},
            "tool_resources": {"code_interpreter": {"file_ids": []}},
        },
        RUN,
        Run,
    ),
    (
        "message retrieve",
        lambda c: c.threads.messages.retrieve("thread_1", "msg_1"),
        "GET",
        "/threads/thread_1/messages/msg_1",
        None,
        MESSAGE,
        Message,
    ),
    (
        "message update",
        lambda c: c.threads.messages.update("thread_1", "msg_1", metadata={"k": "v"}),
        "POST",
        "/threads/thread_1/messages/msg_1",
        {"metadata": {"k": "v"}},
        MESSAGE,
        Message,
    ),
    (
        "message delete",
        lambda c: c.threads.messages.delete("thread_1", "msg_1"),
        "DELETE",
        "/threads/thread_1/messages/msg_1",
        None,
        deleted("msg_1", "thread.message.deleted"),
        DeletionStatus,
    ),
    (
        "message content parts",
        lambda c: c.threads.messages.create(
            "thread_1",
            content=[{"type": "text", "text": "hi"}],
            role="assistant",
            attachments=[{"file_id": "f", "tools": [{"type": "file_search"}]}],
        ),
        "POST",
        "/threads/thread_1/messages",
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "hi"}],
            "attachments": [{"file_id": "f", "tools": [{"type": "file_search"}]}],
        },
        MESSAGE,
        Message,
    ),
    (
        "run list",
        lambda c: first(c.threads.runs.list("thread_1", limit=1, order="asc")),
        "GET",
        "/threads/thread_1/runs",
        None,
        listing(RUN),
        Run,
    ),
    (
        "run update",
        lambda c: c.threads.runs.update("thread_1", "run_1", metadata={"k": "v"}),
        "POST",
        "/threads/thread_1/runs/run_1",
        {"metadata": {"k": "v"}},
        RUN,
        Run,
    ),
    (
        "step list",
        lambda c: first(c.threads.runs.steps.list("thread_1", "run_1")),
        "GET",
        "/threads/thread_1/runs/run_1/steps",
        None,
        listing(STEP),
        RunStep,
    ),
    (
        "step retrieve",
        lambda c: c.threads.runs.steps.retrieve("thread_1", "run_1", "step_1"),
        "GET",
        "/threads/thread_1/runs/run_1/steps/step_1",
        None,
        STEP,
        RunStep,
    ),
    (
        "assistant create",
        lambda c: c.assistants.create(
            model="echo", name="Echo", tools=[{"type": "code_interpreter"}], metadata={"fault": "stall"}
        ),
        "POST",
        "/assistants",
        {
            "model": "echo",
            "name": "Echo",
            "tools": [{"type": "code_interpreter"}],
            "metadata": {"fault": "stall"},
        },
        ASSISTANT,
        Assistant,
    ),
    (
        "assistant retrieve",
        lambda c: c.assistants.retrieve("asst_1"),
        "GET",
        "/assistants/asst_1",
        None,
        ASSISTANT,
        Assistant,
    ),
    (
        "assistant update",
        lambda c: c.assistants.update("asst_1", instructions="Be brief.", name=None),
        "POST",
        "/assistants/asst_1",
        {"instructions": "Be brief."},
        ASSISTANT,
        Assistant,
    ),
    (
        "assistant list",
        lambda c: first(c.assistants.list(order="desc")),
        "GET",
        "/assistants",
        None,
        listing(ASSISTANT),
        Assistant,
    ),
    (
        "assistant delete",
        lambda c: c.assistants.delete("asst_1"),
        "DELETE",
        "/assistants/asst_1",
        None,
        deleted("asst_1", "assistant.deleted"),
        DeletionStatus,
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "route", "sent", "answer", "model"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_endpoint(
    call: Call, method: str, route: str, sent: dict[str, Any] | None, answer: dict[str, Any], model: type
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        result = await call(client)

    assert isinstance(result, model)
    assert (seen[0].method, seen[0].url.path) == (method, "/v1" + route)
    assert (json.loads(seen[0].content) if seen[0].content else None) == sent
