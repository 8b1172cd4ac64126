"""Error mapping by status, Retry-After parsing, transport errors, and the retry policy."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest

import threadloom.threads_client._client as client_module
from threadloom.threads_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PollTimeoutError,
    RateLimitError,
    Run,
    ThreadsClient,
    ThreadsError,
    UnprocessableEntityError,
)
from threadloom.threads_client.errors import parse_retry_after

from .fake_api import error_response, run_object

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the exponential backoff real but tiny."""
    monkeypatch.setattr(client_module, "INITIAL_RETRY_DELAY", 0.001)


class Counting:
    """A handler that answers from a list (the last answer repeats) and counts requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok() -> httpx.Response:
    return httpx.Response(200, json=run_object("run_1", "thread_1", "completed"))


def make_client(handler: Handler, max_retries: int) -> ThreadsClient:
    return ThreadsClient(transport=httpx.MockTransport(handler), max_retries=max_retries)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
async def test_status_maps_to_typed_error_with_envelope(
    status: int, error_type: type[APIStatusError]
) -> None:
    answer = httpx.Response(
        status,
        json={"error": {"message": "nope", "type": "some_type", "param": "p", "code": "c"}},
        headers={"x-request-id": "req_7", "retry-after": "3"},
    )
    async with make_client(Counting(answer), max_retries=0) as client:
        with pytest.raises(error_type) as caught:
            await client.threads.runs.retrieve("thread_1", "run_1")

    error = caught.value
    assert type(error) is error_type
    assert isinstance(error, ThreadsError)
    assert error.status_code == status
    assert (error.message, error.type, error.param, error.code) == ("nope", "some_type", "p", "c")
    assert error.request_id == "req_7"
    assert error.response_headers["x-request-id"] == "req_7"
    assert error.retry_after == 3.0
    assert "nope" in str(error)


async def test_thread_lock_error_keeps_the_server_message() -> None:
    text = "Can't add messages to thread_1 while a run run_1 is active."
    async with make_client(Counting(error_response(400, text)), max_retries=0) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.threads.messages.create("thread_1", content="hi")

    assert caught.value.message == text
    assert caught.value.param is None
    assert caught.value.code is None


async def test_non_envelope_bodies_still_give_a_message() -> None:
    plain = httpx.Response(502, text="Bad gateway from proxy")
    fastapi = httpx.Response(422, json={"detail": [{"loc": ["body"], "msg": "field required"}]})
    async with make_client(Counting(plain, fastapi), max_retries=0) as client:
        with pytest.raises(InternalServerError) as first:
            await client.threads.retrieve("thread_1")
        with pytest.raises(UnprocessableEntityError) as second:
            await client.threads.retrieve("thread_1")

    assert first.value.message == "Bad gateway from proxy"
    assert first.value.type is None
    assert "field required" in second.value.message


def test_retry_after_parsing() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert parse_retry_after(httpx.Headers({"Retry-After": "2"})) == 2.0
    assert parse_retry_after(httpx.Headers({"Retry-After": "0.5"})) == 0.5
    http_date = formatdate(now + 30, usegmt=True)
    assert parse_retry_after(httpx.Headers({"Retry-After": http_date}), now=now) == 30.0
    past = formatdate(now - 30, usegmt=True)
    assert parse_retry_after(httpx.Headers({"Retry-After": past}), now=now) == 0.0
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


async def test_rate_limit_carries_retry_after_from_milliseconds() -> None:
    answer = error_response(429, "Rate limit reached.", headers={"retry-after-ms": "1200"})
    async with make_client(Counting(answer), max_retries=0) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.threads.runs.retrieve("thread_1", "run_1")

    assert caught.value.retry_after == 1.2


async def test_connect_error_becomes_api_connection_error() -> None:
    handler = Counting(httpx.ConnectError("refused"))
    async with make_client(handler, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.threads.runs.retrieve("thread_1", "run_1")

    assert type(caught.value) is APIConnectionError
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert handler.calls == 1


async def test_read_timeout_becomes_api_timeout_error() -> None:
    handler = Counting(httpx.ReadTimeout("slow"))
    async with make_client(handler, max_retries=0) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.threads.runs.retrieve("thread_1", "run_1")

    assert isinstance(caught.value, APIConnectionError)
    assert handler.calls == 1


async def test_retries_500_then_succeeds_with_max_retries_two() -> None:
    handler = Counting(error_response(500, "boom"), error_response(500, "boom"), ok())
    async with make_client(handler, max_retries=2) as client:
        run = await client.threads.runs.retrieve("thread_1", "run_1")

    assert run.status == "completed"
    assert handler.calls == 3


async def test_gives_up_after_max_retries() -> None:
    handler = Counting(error_response(503, "down"))
    async with make_client(handler, max_retries=2) as client:
        with pytest.raises(InternalServerError):
            await client.threads.runs.retrieve("thread_1", "run_1")

    assert handler.calls == 3


@pytest.mark.parametrize(
    "answer",
    [
        error_response(500, "boom"),
        error_response(429, "slow down", headers={"retry-after": "0"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
async def test_max_retries_zero_means_exactly_one_attempt(
    answer: httpx.Response | Exception,
) -> None:
    handler = Counting(answer, ok())
    async with make_client(handler, max_retries=0) as client:
        with pytest.raises(ThreadsError):
            await client.threads.messages.create("thread_1", content="hi")

    assert handler.calls == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(status: int) -> None:
    handler = Counting(error_response(status, "bad"), ok())
    async with make_client(handler, max_retries=2) as client:
        with pytest.raises(APIStatusError):
            await client.threads.runs.retrieve("thread_1", "run_1")

    assert handler.calls == 1


async def test_connection_errors_are_retried() -> None:
    handler = Counting(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok())
    async with make_client(handler, max_retries=2) as client:
        run = await client.threads.runs.retrieve("thread_1", "run_1")

    assert run.status == "completed"
    assert handler.calls == 3


async def test_retry_waits_for_retry_after() -> None:
    handler = Counting(error_response(429, "slow down", headers={"retry-after-ms": "150"}), ok())
    async with make_client(handler, max_retries=1) as client:
        started = time.monotonic()
        await client.threads.runs.retrieve("thread_1", "run_1")
        elapsed = time.monotonic() - started

    assert handler.calls == 2
    assert elapsed >= 0.14


def test_negative_max_retries_is_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        ThreadsClient(max_retries=-1)


def test_errors_survive_pickling() -> None:
    error = RateLimitError(
        "slow down",
        status_code=429,
        code="rate_limit_exceeded",
        retry_after=2.0,
        response_headers={"a": "b"},
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitError
    assert (copy.status_code, copy.code, copy.retry_after, copy.message) == (
        429,
        "rate_limit_exceeded",
        2.0,
        "slow down",
    )
    assert copy.response_headers == {"a": "b"}
    assert str(copy) == str(error)

    run = Run.model_validate(run_object("run_1", "thread_1", "in_progress"))
    timeout = pickle.loads(pickle.dumps(PollTimeoutError(run, 5.0)))
    assert timeout.run == run
    assert str(timeout) == "Run run_1 still 'in_progress' after 5s."
