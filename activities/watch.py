"""Watching a run until it needs action, ends, or its deadline passes.

Threadloom's own server can hold a GET of a run while its status is one of the waiting ones
(long-poll, advertised by `long_poll_max_ms`; several statuses at once where it also says
`several_statuses`, else one status change per read): usually one request per run, answered as soon
as the run leaves them. Once the client knows the server offers both, the first read already waits.
Elsewhere
the watcher polls adaptively: short intervals first (most runs are quick), backing off to the
policy's maximum, never sooner than the server's `openai-poll-after-ms`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from threadloom.activities.snapshots import snapshot_of
from threadloom.threads_client import RunStatus, ThreadsClient
from threadloom.workflows.activity_contracts import RunSnapshot, WaitForRunInput

WAITING_STATUSES: tuple[RunStatus, ...] = ("queued", "in_progress", "cancelling")
"""Statuses that only time changes; `requires_action` is the workflow's to handle."""


class RunWatcher:
    """Polls one run for `wait_for_run`."""

    def __init__(self, client: ThreadsClient, request: WaitForRunInput) -> None:
        self._client = client
        self._request = request
        self._polls = 0
        self._long_poll_max_ms = client.long_poll_max_ms
        self._several = client.long_poll_several_statuses
        self._interval_ms = float(request.poll.initial_interval_ms)
        self._poll_after_ms = 0.0

    async def watch(self) -> RunSnapshot:
        """Return the run once it leaves the waiting statuses, or as it was at the deadline."""
        first = await self._long_poll(WAITING_STATUSES) if self._several else None
        run = first or await self._poll()
        while run.status in WAITING_STATUSES:
            if self._remaining_ms() <= 0:
                return snapshot_of(run, deadline_passed=True, polls=self._polls)
            run = await self._next(run.status)
        return snapshot_of(run, polls=self._polls)

    def _remaining_ms(self) -> float:
        return (self._request.deadline - datetime.now(UTC)).total_seconds() * 1000

    async def _long_poll(self, statuses: tuple[RunStatus, ...]) -> Any:
        """One read held while the run's status is one of `statuses`, if the server offers it."""
        poll, remaining_ms = self._request.poll, self._remaining_ms()
        if not (self._long_poll_max_ms and poll.long_poll_wait_ms) or remaining_ms <= 0:
            return None
        wait_ms = min(poll.long_poll_wait_ms, self._long_poll_max_ms, remaining_ms)
        return await self._poll(wait_ms=max(int(wait_ms), 1), if_status=statuses)

    async def _next(self, status: RunStatus) -> Any:
        held = await self._long_poll(WAITING_STATUSES if self._several else (status,))
        if held is not None:
            return held
        remaining_ms = self._remaining_ms()
        poll = self._request.poll
        delay_ms = min(max(self._interval_ms, self._poll_after_ms), poll.max_interval_ms)
        await asyncio.sleep(min(delay_ms, remaining_ms) / 1000)
        self._interval_ms = min(self._interval_ms * poll.backoff_factor, poll.max_interval_ms)
        return await self._poll()

    async def _poll(
        self, *, wait_ms: int | None = None, if_status: tuple[RunStatus, ...] | None = None
    ) -> Any:
        answer = await self._client.threads.runs.retrieve_for_poll(
            self._request.thread_id, self._request.run_id, wait_ms=wait_ms, if_status=if_status
        )
        self._polls += 1
        self._poll_after_ms = float(answer.poll_after_ms or 0)
        self._long_poll_max_ms = answer.long_poll_max_ms
        self._several = answer.several_statuses
        return answer.run
