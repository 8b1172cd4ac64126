"""Calls through the resources against the fake API: what goes out, what comes back."""

from __future__ import annotations

import json

import httpx
import pytest

from threadloom import threads_client
from threadloom.threads_client import (
    FunctionDefinition,
    FunctionTool,
    Message,
    NotFoundError,
    Run,
    TextContent,
    Thread,
    ThreadsClient,
)

from .fake_api import FakeThreadsAPI, run_object


async def test_thread_message_run_round_trip() -> None:
    api = FakeThreadsAPI()
    async with api.client() as client:
        thread = await client.threads.create(
            messages=[{"role": "user", "content": "first"}], metadata={"k": "v"}
        )
        message = await client.threads.messages.create(thread.id, content="hello")
        run = await client.threads.runs.create(thread.id, assistant_id="asst_9")
        again = await client.threads.runs.retrieve(thread.id, run.id)
        fetched = await client.threads.retrieve(thread.id)

    assert isinstance(thread, Thread)
    assert thread.metadata == {"k": "v"}
    assert isinstance(message, Message)
    assert message.role == "user"
    assert message.text == "hello"
    assert isinstance(message.content[0], TextContent)
    assert isinstance(run, Run)
    assert run.status == "queued"
    assert run.assistant_id == "asst_9"
    assert run.instructions is None
    assert again.status == "in_progress"
    assert fetched.id == thread.id
    assert [m["content"][0]["text"]["value"] for m in api.messages[thread.id]] == [
        "first",
        "hello",
    ]


async def test_every_request_carries_beta_header_and_bearer_key() -> None:
    api = FakeThreadsAPI()
    async with api.client() as client:
        thread = await client.threads.create()
        await client.threads.messages.create(thread.id, content="hi")

    for request in api.requests:
        assert request.headers["OpenAI-Beta"] == "assistants=v2"
        assert request.headers["Authorization"] == "Bearer sk-test"
        assert "api-key" not in request.headers
        assert request.url.path.startswith("/v1/threads")


async def test_azure_style_sends_api_key_header_and_api_version_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=run_object("run_1", "thread_1", "completed"))

    client = ThreadsClient(
        "https://example.openai.azure.com/openai/",
        "azure-key",
        azure_api_version="2024-05-01-preview",
        transport=httpx.MockTransport(handler),
    )
    async with client:
        await client.threads.runs.retrieve("thread_1", "run_1")
        await client.threads.messages.list("thread_1", limit=5)

    assert str(seen[0].url) == (
        "https://example.openai.azure.com/openai/threads/thread_1/runs/run_1"
        "?api-version=2024-05-01-preview"
    )
    assert seen[1].url.params["api-version"] == "2024-05-01-preview"
    assert seen[1].url.params["limit"] == "5"
    for request in seen:
        assert request.headers["api-key"] == "azure-key"
        assert "Authorization" not in request.headers
        assert request.headers["OpenAI-Beta"] == "assistants=v2"


async def test_no_key_sends_no_authorization() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=run_object("run_1", "thread_1", "completed"))

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        await client.threads.runs.retrieve("thread_1", "run_1")

    assert "Authorization" not in seen[0].headers
    assert str(seen[0].url) == "http://127.0.0.1:8700/v1/threads/thread_1/runs/run_1"


async def test_run_create_sends_only_given_options_and_serialises_models() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=run_object("run_1", "thread_1", "queued"))

    tool = FunctionTool(function=FunctionDefinition(name="lookup", parameters={"type": "object"}))
    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        await client.threads.runs.create(
            "thread_1",
            assistant_id="asst_1",
            instructions=None,
            additional_messages=[{"role": "user", "content": "more"}],
            tools=[tool, {"type": "code_interpreter"}],
            metadata={"turn": "t1"},
            max_completion_tokens=512,
            parallel_tool_calls=False,
        )

    assert bodies == [
        {
            "assistant_id": "asst_1",
            "additional_messages": [{"role": "user", "content": "more"}],
            "tools": [
                {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
                {"type": "code_interpreter"},
            ],
            "metadata": {"turn": "t1"},
            "max_completion_tokens": 512,
            "parallel_tool_calls": False,
        }
    ]


async def test_cancel_and_submit_tool_outputs_hit_their_endpoints() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        return httpx.Response(200, json=run_object("run_1", "thread_1", "queued"))

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        await client.threads.runs.cancel("thread_1", "run_1")
        outputs = [{"tool_call_id": "call_1", "output": "42"}]
        await client.threads.runs.submit_tool_outputs("thread_1", "run_1", tool_outputs=outputs)

    assert seen[0][:2] == ("POST", "/v1/threads/thread_1/runs/run_1/cancel")
    assert seen[1][:2] == ("POST", "/v1/threads/thread_1/runs/run_1/submit_tool_outputs")
    assert json.loads(seen[1][2]) == {"tool_outputs": [{"tool_call_id": "call_1", "output": "42"}]}


async def test_ids_stay_one_path_segment_and_empty_ids_are_refused() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=run_object("run_1", "thread_1", "queued"))

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        await client.threads.runs.retrieve("thread/../x", "run_1")
        with pytest.raises(ValueError, match="non-empty id"):
            await client.threads.runs.retrieve("", "run_1")

    assert seen == ["/v1/threads/thread%2F..%2Fx/runs/run_1"]


async def test_unknown_thread_is_not_found() -> None:
    api = FakeThreadsAPI()
    async with api.client() as client:
        with pytest.raises(NotFoundError) as caught:
            await client.threads.messages.create("thread_missing", content="hi")

    assert caught.value.status_code == 404
    assert caught.value.message == "No thread found with id 'thread_missing'."
    assert caught.value.type == "invalid_request_error"


def test_public_names_stay_exported() -> None:
    expected = {
        "ThreadsClient",
        "AsyncPage",
        "StreamEvent",
        "RunPoll",
        "RunStatus",
        "ACTIVE_RUN_STATUSES",
        "TERMINAL_RUN_STATUSES",
        "Thread",
        "Message",
        "Run",
        "RunStep",
        "Assistant",
        "DeletionStatus",
        "MessageDelta",
        "RunStepDelta",
        "ErrorObject",
        "ThreadsError",
        "APIConnectionError",
        "APITimeoutError",
        "APIStatusError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "UnprocessableEntityError",
        "RateLimitError",
        "InternalServerError",
        "PollTimeoutError",
    }
    assert expected <= set(threads_client.__all__)
    assert threads_client.__all__ == sorted(threads_client.__all__, key=_isort_key)
    for name in threads_client.__all__:
        assert getattr(threads_client, name) is not None


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then the rest.
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name
