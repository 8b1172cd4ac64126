"""`Idempotency-Key` on POSTs, and what the client learns from a server's headers."""

from __future__ import annotations

import httpx
import pytest

from tests.client.fake_api import error_response, message_object, run_object
from threadloom.threads_client import InternalServerError, ThreadsClient

RETENTION = {"threadloom-idempotency-keys": "86400"}


class Recorder:
    """Answers each request with the next of `answers`, keeping the requests."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def keys(self) -> list[str | None]:
        return [request.headers.get("Idempotency-Key") for request in self.requests]


def client_for(recorder: Recorder, max_retries: int) -> ThreadsClient:
    return ThreadsClient(transport=httpx.MockTransport(recorder), max_retries=max_retries)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("threadloom.threads_client._client.INITIAL_RETRY_DELAY", 0.0)


async def test_a_retried_post_sends_one_key_for_all_its_attempts() -> None:
    message = httpx.Response(200, json=message_object("msg_1", "thread_1", "hi"))
    recorder = Recorder(error_response(500, "boom"), error_response(503, "busy"), message)
    async with client_for(recorder, max_retries=2) as client:
        await client.threads.messages.create("thread_1", content="hi")
        await client.threads.messages.create("thread_1", content="hi")
    keys = recorder.keys()
    assert len(keys) == 4
    assert keys[0] is not None and keys[0].startswith("threadloom-retry-")
    assert keys[0] == keys[1] == keys[2], "the retries of one call share its key"
    assert keys[3] != keys[0], "another call gets another key"


async def test_explicit_keys_are_sent_and_reads_carry_none() -> None:
    recorder = Recorder(
        httpx.Response(200, json=message_object("msg_1", "thread_1", "hi")),
        httpx.Response(200, json=run_object("run_1", "thread_1", "queued")),
        httpx.Response(200, json=run_object("run_1", "thread_1", "queued")),
    )
    async with client_for(recorder, max_retries=0) as client:
        await client.threads.messages.create("thread_1", content="hi", idempotency_key="turn-1/msg")
        await client.threads.runs.create("thread_1", assistant_id="asst_1", idempotency_key="turn-1/run")
        await client.threads.runs.retrieve("thread_1", "run_1")
    assert recorder.keys() == ["turn-1/msg", "turn-1/run", None]


async def test_without_retries_a_post_carries_no_key_unless_given() -> None:
    recorder = Recorder(error_response(500, "boom"))
    async with client_for(recorder, max_retries=0) as client:
        with pytest.raises(InternalServerError):
            await client.threads.messages.create("thread_1", content="hi")
    assert recorder.keys() == [None]


async def test_the_client_learns_whether_the_server_honours_keys() -> None:
    recorder = Recorder(
        httpx.Response(200, json=run_object("run_1", "thread_1", "queued"), headers=RETENTION),
        error_response(500, "a proxy answered"),
        httpx.Response(200, json=run_object("run_1", "thread_1", "queued")),
    )
    async with client_for(recorder, max_retries=0) as client:
        assert client.idempotency_retention is None
        await client.threads.runs.retrieve("thread_1", "run_1")
        assert client.idempotency_retention == 86400
        with pytest.raises(InternalServerError):
            await client.threads.runs.retrieve("thread_1", "run_1")
        assert client.idempotency_retention == 86400, "an error answer teaches nothing"
        await client.threads.runs.retrieve("thread_1", "run_1")
        assert client.idempotency_retention is None, "a server without the header is believed"


async def test_long_poll_with_several_statuses_and_the_learned_maximum() -> None:
    run = httpx.Response(
        200,
        json=run_object("run_1", "thread_1", "completed"),
        headers={"threadloom-long-poll-max-ms": "25000"},
    )
    recorder = Recorder(run)
    async with client_for(recorder, max_retries=0) as client:
        assert client.long_poll_max_ms is None
        answer = await client.threads.runs.retrieve_for_poll(
            "thread_1", "run_1", wait_ms=5000, if_status=("queued", "in_progress")
        )
        assert answer.run.status == "completed"
        assert client.long_poll_max_ms == 25000
    params = recorder.requests[0].url.params
    assert params["if_status"] == "queued,in_progress" and params["wait_ms"] == "5000"
