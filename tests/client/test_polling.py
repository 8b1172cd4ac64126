"""``runs.retrieve_for_poll`` and the ``runs.poll`` helper."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from threadloom.threads_client import PollTimeoutError, ThreadsClient

from .fake_api import FakeThreadsAPI, run_object

REQUIRED_ACTION = {
    "required_action": {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
            ]
        },
    }
}


async def start_run(api: FakeThreadsAPI, client: ThreadsClient) -> tuple[str, str]:
    thread = await client.threads.create()
    run = await client.threads.runs.create(thread.id, assistant_id="asst_1")
    return thread.id, run.id


async def test_poll_stops_at_requires_action() -> None:
    api = FakeThreadsAPI(
        run_script=("queued", "in_progress", "requires_action", "completed"),
        run_fields={"requires_action": REQUIRED_ACTION},
    )
    async with api.client() as client:
        thread_id, run_id = await start_run(api, client)
        run = await client.threads.runs.poll(thread_id, run_id, poll_interval_ms=1, timeout=5)

    assert run.status == "requires_action"
    assert [call.function.name for call in run.tool_calls] == ["add"]
    assert api.run_reads[run_id] == 2


async def test_poll_stops_at_incomplete() -> None:
    api = FakeThreadsAPI(
        run_script=("queued", "in_progress", "incomplete"),
        run_fields={"incomplete": {"incomplete_details": {"reason": "max_completion_tokens"}}},
    )
    async with api.client() as client:
        thread_id, run_id = await start_run(api, client)
        run = await client.threads.runs.poll(thread_id, run_id, poll_interval_ms=1)

    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"


async def test_poll_follows_cancelling_to_cancelled() -> None:
    api = FakeThreadsAPI(run_script=("in_progress",))
    async with api.client() as client:
        thread_id, run_id = await start_run(api, client)
        cancelling = await client.threads.runs.cancel(thread_id, run_id)
        run = await client.threads.runs.poll(thread_id, run_id, poll_interval_ms=1, timeout=5)

    assert cancelling.status == "cancelling"
    assert run.status == "cancelled"


async def test_poll_raises_poll_timeout_error_with_the_last_run() -> None:
    api = FakeThreadsAPI(run_script=("queued", "in_progress"))
    async with api.client() as client:
        thread_id, run_id = await start_run(api, client)
        started = time.monotonic()
        with pytest.raises(PollTimeoutError) as caught:
            await client.threads.runs.poll(thread_id, run_id, timeout=0.2, poll_interval_ms=20)
        elapsed = time.monotonic() - started

    assert caught.value.run.id == run_id
    assert caught.value.run.status == "in_progress"
    assert 0.2 <= elapsed < 2.0
    # Every 20 ms for 200 ms: about 10 reads, fewer on a loaded machine, never many more.
    assert 2 <= api.run_reads[run_id] <= 12


async def test_poll_uses_the_servers_poll_after_over_its_own_interval() -> None:
    # The caller's interval alone would take a minute per poll; the server asks for 1 ms.
    api = FakeThreadsAPI(poll_after_ms=1)
    async with api.client() as client:
        thread_id, run_id = await start_run(api, client)
        run = await client.threads.runs.poll(thread_id, run_id, poll_interval_ms=60_000, timeout=2)

    assert run.status == "completed"


async def test_poll_waits_as_long_as_poll_after_asks() -> None:
    api = FakeThreadsAPI(poll_after_ms=150, run_script=("queued", "in_progress", "completed"))
    async with api.client() as client:
        thread_id, run_id = await start_run(api, client)
        started = time.monotonic()
        run = await client.threads.runs.poll(thread_id, run_id, timeout=5)
        elapsed = time.monotonic() - started

    assert run.status == "completed"
    assert api.run_reads[run_id] == 2
    # One read, one wait of 150 ms, then the read that sees it completed.
    assert elapsed >= 0.14


async def test_retrieve_for_poll_reads_headers_and_sends_wait_only_when_given() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"openai-poll-after-ms": "250", "threadloom-long-poll-max-ms": "5000"}
        return httpx.Response(200, json=run_object("run_1", "t_1", "queued"), headers=headers)

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        plain = await client.threads.runs.retrieve_for_poll("t_1", "run_1")
        held = await client.threads.runs.retrieve_for_poll(
            "t_1", "run_1", wait_ms=2000, if_status="queued"
        )

    assert (plain.run.status, plain.poll_after_ms, plain.long_poll_max_ms) == ("queued", 250, 5000)
    assert held.run.id == "run_1"
    assert dict(seen[0].url.params) == {}
    assert dict(seen[1].url.params) == {"wait_ms": "2000", "if_status": "queued"}
    # The attempt's read timeout covers the requested hold.
    assert seen[1].extensions["timeout"]["read"] >= 32.0


async def test_retrieve_for_poll_without_hints() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=run_object("run_1", "t_1", "completed"))

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        result = await client.threads.runs.retrieve_for_poll("t_1", "run_1")

    assert (result.poll_after_ms, result.long_poll_max_ms) == (None, None)


class LongPollServer:
    """Advertises long-poll; holds a GET that carries ``wait_ms`` until the run completes."""

    def __init__(self, completes_after: float) -> None:
        self.completes_at = time.monotonic() + completes_after
        self.params: list[dict[str, str]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.params.append(dict(request.url.params))
        wait_ms = request.url.params.get("wait_ms")
        if wait_ms is not None:
            hold_until = min(time.monotonic() + int(wait_ms) / 1000, self.completes_at)
            await asyncio.sleep(max(hold_until - time.monotonic(), 0))
        status = "completed" if time.monotonic() >= self.completes_at else "in_progress"
        headers = {"threadloom-long-poll-max-ms": "5000", "openai-poll-after-ms": "1000"}
        return httpx.Response(200, json=run_object("run_1", "t_1", status), headers=headers)


async def test_poll_uses_long_poll_when_advertised() -> None:
    server = LongPollServer(completes_after=0.15)
    async with ThreadsClient(transport=httpx.MockTransport(server)) as client:
        started = time.monotonic()
        run = await client.threads.runs.poll("t_1", "run_1", timeout=10)
        elapsed = time.monotonic() - started

    assert run.status == "completed"
    # One plain read, then one held read that answers as soon as the run completes.
    assert server.params[0] == {}
    assert server.params[1] == {"wait_ms": "5000", "if_status": "in_progress"}
    assert len(server.params) == 2
    assert elapsed < 0.9  # answered when the run completed, not after the 1,000 ms poll-after


async def test_long_poll_wait_is_cut_to_the_deadline() -> None:
    server = LongPollServer(completes_after=60)
    async with ThreadsClient(transport=httpx.MockTransport(server)) as client:
        with pytest.raises(PollTimeoutError):
            await client.threads.runs.poll("t_1", "run_1", timeout=0.3)

    assert all(int(params.get("wait_ms", "0")) <= 300 for params in server.params)


async def test_poll_does_not_spin_when_the_server_does_not_hold() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        headers = {"threadloom-long-poll-max-ms": "5000", "openai-poll-after-ms": "50"}
        return httpx.Response(200, json=run_object("run_1", "t_1", "in_progress"), headers=headers)

    async with ThreadsClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(PollTimeoutError):
            await client.threads.runs.poll("t_1", "run_1", timeout=0.3)

    assert calls <= 16
