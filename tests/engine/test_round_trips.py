"""Round trips of a turn: Threads API requests (the server's own counter) and history events.

On threadloom's server a happy turn posts its message with the run and gets its reply with the
final read: 2 requests. A server that advertises none of threadloom's extensions (no long-poll, no
idempotency keys, no messages beside a run) gets the spec's calls only, and the turn still writes
exactly one user message and one run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from tests.engine.plain_server import PlainServer
from threadloom.benchmarks.figures import count_history
from threadloom.starter.api import Threadloom
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import (
    PollSettings,
    RunOverrides,
    TurnPolicy,
    TurnRequest,
    UserMessage,
)


def turn(
    thread_id: str, assistant_id: str, text: str, run_ms: int = 0, first_read_ms: int = 1000
) -> TurnRequest:
    metadata = {"fault": f"delay={run_ms}"} if run_ms else {}
    return TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        run=RunOverrides(metadata=metadata),
        turn_key=uuid.uuid4().hex,
        policy=TurnPolicy(poll=PollSettings(first_read_wait_ms=first_read_ms)),
    )


async def requests_for(control: httpx.AsyncClient, loom: Threadloom, request: TurnRequest) -> Any:
    """Run the turn; its result and the Threads API requests the server counted meanwhile."""
    (await control.post("/_threadloom/stats/reset")).raise_for_status()
    result = await loom.run_turn(request)
    stats = (await control.get("/_threadloom/stats")).json()["requests"]
    return result, stats["total"], stats["by_route"]


async def assert_one_exchange(threads: ThreadsClient, thread_id: str, result: Any, text: str) -> None:
    """The reply, and on the thread one user message (the turn's), one reply and one run."""
    assert result.reply == f"Echo: {text}"
    state = await thread_state(threads, thread_id)
    assert [m.role for m in state.messages] == ["user", "assistant"]
    assert state.messages[0].id == result.user_message_id
    assert state.messages[0].text == text
    assert [m.id for m in state.messages[1:]] == result.reply_message_ids
    assert state.statuses == ["completed"]
    assert state.runs[0].id == result.run_id


async def warm(loom: Threadloom, threads: ThreadsClient, assistant_id: str) -> None:
    """One turn first, so the worker's client has heard what the server offers."""
    thread = await threads.threads.create()
    await loom.run_turn(turn(thread.id, assistant_id, "warm up"))


@pytest.mark.usefixtures("engine_worker")
async def test_a_happy_turn_is_two_requests_and_few_events(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
) -> None:
    await warm(loom, threads, assistant_id)
    # The instant run ends well within the first read (held up to 5 s, for a busy machine).
    request = turn(thread_id, assistant_id, "How many round trips?", first_read_ms=5000)

    result, total, by_route = await requests_for(control, loom, request)

    assert total == 2, by_route  # create run (with the message), one read carrying the reply
    await assert_one_exchange(threads, thread_id, result, "How many round trips?")
    history = await loom.client.get_workflow_handle(request.workflow_id).fetch_history()
    assert count_history(list(history.events)).events <= 12


@pytest.mark.usefixtures("engine_worker")
async def test_a_run_that_outlasts_the_first_read_gets_its_reply_with_the_wait(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
) -> None:
    await warm(loom, threads, assistant_id)
    request = turn(thread_id, assistant_id, "Take your time.", run_ms=3000)

    result, total, by_route = await requests_for(control, loom, request)

    assert total == 3, by_route  # create, first read (held 1 s), the wait's long-poll with the reply
    await assert_one_exchange(threads, thread_id, result, "Take your time.")


@pytest.mark.usefixtures("engine_worker")
@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("POST", "/v1/threads/*/runs", "drop_after_commit"),
        ("POST", "/v1/threads/*/runs", "500_after_commit"),
        ("GET", "/v1/threads/*/runs/*", "drop"),  # the first read: the create is retried
    ],
)
async def test_a_retried_create_adopts_the_run_and_its_message(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
    method: str,
    path: str,
    action: str,
) -> None:
    fault = {"method": method, "path": path, "action": action, "times": 1}
    (await control.post("/_threadloom/faults", json=fault)).raise_for_status()

    result = await loom.run_turn(turn(thread_id, assistant_id, "Only once, please."))

    await assert_one_exchange(threads, thread_id, result, "Only once, please.")
    assert (await control.get("/_threadloom/faults")).json()["faults"] == []  # the fault was hit


@pytest.fixture
async def plain_worker(
    temporal_env: WorkflowEnvironment, threads_server: Any, task_queue: str
) -> AsyncIterator[None]:
    """The real worker on this test's queue, whose client sees no threadloom extension."""
    async with ThreadsClient(threads_server.base_url, max_retries=0, transport=PlainServer()) as plain:
        async with build_worker(temporal_env.client, plain, task_queue=task_queue):
            yield


@pytest.mark.usefixtures("plain_worker")
@pytest.mark.parametrize("fault", [None, "500_after_commit"])
async def test_a_server_without_the_extensions_gets_the_spec_calls(
    loom: Threadloom,
    threads: ThreadsClient,
    thread_id: str,
    assistant_id: str,
    control: httpx.AsyncClient,
    fault: str | None,
) -> None:
    await warm(loom, threads, assistant_id)
    if fault is not None:
        rule = {"method": "POST", "path": "/v1/threads/*/runs", "action": fault, "times": 1}
        (await control.post("/_threadloom/faults", json=rule)).raise_for_status()

    result, _, by_route = await requests_for(
        control, loom, turn(thread_id, assistant_id, "Plain server.")
    )

    await assert_one_exchange(threads, thread_id, result, "Plain server.")
    polls = by_route.pop("GET /v1/threads/{thread_id}/runs/{run_id}")  # no long-poll advertised
    assert polls >= 1
    # No keys: a scan for the run before creating it (the retry after the fault scans again and
    # adopts the run the first attempt created); the message goes with the run; one list of the
    # thread gives the reply and the user message's id. (Before, this was two scans, a message
    # post, an assistant lookup, the create and a list.)
    assert by_route == {
        "GET /v1/threads/{thread_id}/runs": 1 if fault is None else 2,
        "POST /v1/threads/{thread_id}/runs": 1,
        "GET /v1/threads/{thread_id}/messages": 1,
    }


async def test_an_ended_run_comes_with_the_thread_s_newest_messages_when_asked(
    threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    await threads.threads.messages.create(thread_id, content="older")
    tagged = {"role": "user", "content": "with the run", "metadata": {"k": "v"}}
    run = await threads.threads.runs.create(
        thread_id, assistant_id=assistant_id, additional_messages=[tagged]
    )
    runs = threads.threads.runs

    held = await runs.retrieve_for_poll(thread_id, run.id, wait_ms=5000, messages=2)
    plain = await runs.retrieve_for_poll(thread_id, run.id)

    assert held.run.status == "completed" and held.run_messages_max == 100
    assert held.messages is not None and held.messages_has_more  # "older" is on the next page
    assert [m.role for m in held.messages] == ["assistant", "user"]
    assert held.messages[0].run_id == run.id and held.messages[0].text == "Echo: with the run"
    assert held.messages[1].text == "with the run" and held.messages[1].metadata == {"k": "v"}
    assert plain.messages is None  # not asked: the run as every client sees it
    assert "threadloom_messages" not in (plain.run.model_extra or {})


async def test_a_run_still_waiting_comes_without_messages(
    threads: ThreadsClient, thread_id: str, assistant_id: str
) -> None:
    run = await threads.threads.runs.create(
        thread_id, assistant_id=assistant_id, metadata={"fault": "delay=2000"}
    )
    answer = await threads.threads.runs.retrieve_for_poll(thread_id, run.id, messages=20)

    assert answer.run.status in ("queued", "in_progress")
    assert answer.messages is None
    await threads.threads.runs.cancel(thread_id, run.id)
