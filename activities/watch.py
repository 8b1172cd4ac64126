"""Watching a run until it needs action, ends, or its deadline passes.

Threadloom's own server can hold a GET of a run while its status is one of the waiting ones
(long-poll, advertised by `long_poll_max_ms`; several statuses at once where it also says
`several_statuses`, else one status change per read): usually one request per run, answered as soon
as the run leaves them. Once the client knows the server offers both, the first read already waits.
Elsewhere
the watcher polls adaptively: short intervals first (most runs are quick), backing off to the
policy's maximum, never sooner than the server's `openai-poll-after-ms`.

Asked for the reply (`reply_turn_key`) on a server that sends the thread's newest messages beside an
ended run (`threadloom_messages`, advertised by `run_messages_max`), every read asks for them, and
the snapshot of the ended run carries the reply when that page reaches the turn's user message.
`look` is the one read `create_run` makes right after creating the run.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from threadloom.activities.replies import REPLY_PAGE, reply_beside
from threadloom.activities.snapshots import snapshot_of
from threadloom.threads_client import TERMINAL_RUN_STATUSES, RunPoll, RunStatus, ThreadsClient
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
        self._last: RunPoll | None = None

    async def watch(self) -> RunSnapshot:
        """Return the run once it leaves the waiting statuses, or as it was at the deadline."""
        first = await self._long_poll(WAITING_STATUSES) if self._several else None
        run = first or await self._poll()
        while run.status in WAITING_STATUSES:
            if self._remaining_ms() <= 0:
                return snapshot_of(run, deadline_passed=True, polls=self._polls)
            run = await self._next(run.status)
        return self._snapshot(run)

    async def look(self, status: RunStatus, wait_ms: int) -> RunSnapshot:
        """One read of a run just created with `status`, held up to `wait_ms` while it waits."""
        statuses = WAITING_STATUSES if self._several else (status,)
        held = await self._long_poll(statuses, longest_ms=wait_ms) if wait_ms > 0 else None
        return self._snapshot(held or await self._poll())

    def _snapshot(self, run: Any) -> RunSnapshot:
        """The run as the workflow sees it, with its reply when the last answer carried it."""
        found = snapshot_of(run, polls=self._polls)
        key, answer = self._request.reply_turn_key, self._last
        if key is None or answer is None or answer.messages is None:
            return found
        if run.status not in TERMINAL_RUN_STATUSES:
            return found
        reply = reply_beside(answer.messages, run.id, key)
        return found if reply is None else found.model_copy(update={"reply": reply})

    def _remaining_ms(self) -> float:
        return (self._request.deadline - datetime.now(UTC)).total_seconds() * 1000

    async def _long_poll(
        self, statuses: tuple[RunStatus, ...], *, longest_ms: float | None = None
    ) -> Any:
        """One read held while the run's status is one of `statuses`, if the server offers it."""
        poll, remaining_ms = self._request.poll, self._remaining_ms()
        if not (self._long_poll_max_ms and poll.long_poll_wait_ms) or remaining_ms <= 0:
            return None
        wait_ms = min(poll.long_poll_wait_ms, self._long_poll_max_ms, remaining_ms)
        if longest_ms is not None:
            wait_ms = min(wait_ms, longest_ms)
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
        wants_reply = self._request.reply_turn_key is not None and self._client.run_messages_max
        answer = await self._client.threads.runs.retrieve_for_poll(
            self._request.thread_id,
            self._request.run_id,
            wait_ms=wait_ms,
            if_status=if_status,
            messages=min(REPLY_PAGE, self._client.run_messages_max or 0) if wants_reply else None,
        )
        self._last = answer
        self._polls += 1
        self._poll_after_ms = float(answer.poll_after_ms or 0)
        self._long_poll_max_ms = answer.long_poll_max_ms
        self._several = answer.several_statuses
        return answer.run
