"""How `wait_for_run` reads a run: long-poll through several statuses only where the server says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.client.fake_api import run_object
from threadloom.activities.watch import RunWatcher
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.activity_contracts import WaitForRunInput
from threadloom.workflows.contracts import PollSettings

STATUSES = ("queued", "in_progress", "completed")


class StepServer:
    """A run that moves on after each plain read; a held read waits out every status it names."""

    def __init__(self, *, several: bool) -> None:
        self.several = several
        self.step = 0
        self.if_status: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        held = request.url.params.get("if_status")
        self.if_status.append(held)
        if held is None:
            status = STATUSES[self.step]
            self.step = min(self.step + 1, len(STATUSES) - 1)
        else:
            while STATUSES[self.step] in held.split(","):
                self.step += 1
            status = STATUSES[self.step]
        headers = {"threadloom-long-poll-max-ms": "25000"}
        if self.several:
            headers["threadloom-long-poll-if-status"] = "several"
        run = run_object("run_1", "thread_1", status)
        return httpx.Response(200, json=run, headers=headers)


def watch_request() -> WaitForRunInput:
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    return WaitForRunInput(thread_id="thread_1", run_id="run_1", deadline=deadline, poll=PollSettings())


@pytest.mark.parametrize("turns", [1, 2])
async def test_a_server_that_takes_one_status_gets_one(turns: int) -> None:
    server = StepServer(several=False)
    async with ThreadsClient(transport=httpx.MockTransport(server), max_retries=0) as client:
        for _ in range(turns):
            server.step = 0
            snapshot = await RunWatcher(client, watch_request()).watch()
            assert snapshot.status == "completed"
    # Never a list: an older threadloom server rejects one with 400.
    assert all(held is None or "," not in held for held in server.if_status)
    assert server.if_status[:3] == [None, "queued", "in_progress"]


async def test_a_server_that_takes_several_is_read_once_per_run_when_known() -> None:
    server = StepServer(several=True)
    async with ThreadsClient(transport=httpx.MockTransport(server), max_retries=0) as client:
        server.step = 0
        first = await RunWatcher(client, watch_request()).watch()
        reads_of_first = len(server.if_status)
        server.step = 0
        server.if_status.clear()
        second = await RunWatcher(client, watch_request()).watch()

    assert first.status == second.status == "completed"
    assert reads_of_first == 2  # a plain read, then one held through the waiting statuses
    assert server.if_status == ["queued,in_progress,cancelling"]
