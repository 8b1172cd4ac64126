"""The poll helper: wait for a run to need action or finish, within a deadline."""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

from threadloom.threads_client._models_run import TERMINAL_RUN_STATUSES, Run, RunPoll, RunStatus
from threadloom.threads_client.errors import PollTimeoutError

__all__ = ["STOP_POLLING_STATUSES", "poll_run"]

STOP_POLLING_STATUSES: Final[frozenset[RunStatus]] = TERMINAL_RUN_STATUSES | {"requires_action"}
"""The poll helper returns as soon as a run has one of these statuses."""

ADAPTIVE_START_MS: Final = 100.0
ADAPTIVE_FACTOR: Final = 1.5
ADAPTIVE_MAX_MS: Final = 1000.0


class RetrieveForPoll(Protocol):
    """The shape of ``Runs.retrieve_for_poll``."""

    async def __call__(
        self,
        thread_id: str,
        run_id: str,
        *,
        wait_ms: int | None = None,
        if_status: RunStatus | None = None,
    ) -> RunPoll: ...


async def poll_run(
    retrieve: RetrieveForPoll,
    thread_id: str,
    run_id: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - an overall deadline, not one call's
    poll_interval_ms: int | None = None,
) -> Run:
    """Read the run until its status is in :data:`STOP_POLLING_STATUSES`.

    Between reads: when the server advertises long-polling, the next read asks it to hold the
    answer until the status changes (no sleep); otherwise sleep ``openai-poll-after-ms`` if the
    server sent it, else ``poll_interval_ms``, else an adaptive interval. Sleeps and holds are
    cut short at the deadline.

    Raises:
        PollTimeoutError: The deadline passed; carries the last run read.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    adaptive_ms = ADAPTIVE_START_MS
    wait_ms: int | None = None
    status: RunStatus | None = None
    while True:
        started = loop.time()
        sent_wait_ms = wait_ms
        result = await retrieve(
            thread_id, run_id, wait_ms=wait_ms, if_status=status if wait_ms is not None else None
        )
        run = result.run
        if run.status in STOP_POLLING_STATUSES:
            return run
        now = loop.time()
        remaining = None if deadline is None else deadline - now
        if remaining is not None and remaining <= 0:
            raise PollTimeoutError(run, timeout)
        unchanged = sent_wait_ms is not None and run.status == status
        # A server that advertised long-poll but answered an unchanged status at once did not
        # hold the request: fall back to sleeping rather than spinning.
        held = unchanged and (now - started) * 1000.0 >= (sent_wait_ms or 0) / 2
        status = run.status
        if result.long_poll_max_ms and (not unchanged or held):
            wait_ms = result.long_poll_max_ms
            if remaining is not None:
                wait_ms = max(1, min(wait_ms, int(remaining * 1000.0)))
            continue
        wait_ms = None
        if result.poll_after_ms is not None:
            delay_ms = float(result.poll_after_ms)
        elif poll_interval_ms is not None:
            delay_ms = float(poll_interval_ms)
        else:
            delay_ms = adaptive_ms
            adaptive_ms = min(adaptive_ms * ADAPTIVE_FACTOR, ADAPTIVE_MAX_MS)
        delay = delay_ms / 1000.0
        await asyncio.sleep(delay if remaining is None else min(delay, remaining))
