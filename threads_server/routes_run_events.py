"""`GET /v1/threads/{thread_id}/runs/{run_id}/events?after=N`: a run's events, re-attachable.

Beside it, `GET /v1/threads/{thread_id}/threadloom/run?threadloom_turn=K&threadloom_attempt=N&wait_ms=W`
finds the run the engine tagged for turn K's attempt N, waiting for its creation (a long-poll).

A threadloom extension, advertised on every answer by `threadloom-run-events: 1`. The standard
streams start with the run (`stream: true` on create) and a reader that loses one loses the rest;
this one replays the run's retained events numbered above `after` (`run_log`), then follows the live
ones, each framed with its number as the SSE `id:`, so a reader that reconnects passes the last id it
saw. It ends after the run's terminal event (not at `requires_action`: the run's later rounds
follow), or with an `error` event (`stream_reader_too_slow`: reconnect from the last id; a run taken
over by another replica: its reply is replaced), then `event: done`.

A reader that stops reading never holds up the run: its queue is dropped when full, where a
standard stream would make the run's deltas wait (`events.RunEvents.room`).

With `threadloom_at=true` each frame also carries, as an SSE comment (`: at=<Unix seconds>`), when
the server logged the event: `threadloom bench` measures each delta's lag with it.

400 for an `after` past the run's logged events; 404 for an unknown run; 410 when the run has
ended and its events are no longer kept (a restart, or evicted): read its messages instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from threadloom.threads_server.errors import APIError
from threadloom.threads_server.events import TERMINAL_RUN_STATUSES, Event, Subscription
from threadloom.threads_server.run_log import RunLog
from threadloom.threads_server.services import Services, services
from threadloom.threads_server.storage import runs as storage_runs
from threadloom.threads_server.storage.rows import ListQuery
from threadloom.threads_server.streaming import DONE

router = APIRouter(tags=["runs"])
Svc = Annotated[Services, Depends(services)]
ADVERTISE_HEADER = "threadloom-run-events"
TURN_TAG, ATTEMPT_TAG = "threadloom_turn", "threadloom_attempt"
"""The metadata threadloom's engine tags a turn's runs with (`workflows.contracts`)."""
SCAN_RUNS = 20
"""How many of the thread's newest runs a lookup by tags reads."""
QUIET_CHECK_SECONDS = 5.0
"""With no event for this long, the run is read again: a run that ended unseen ends the stream."""


def _ends(event: Event) -> bool:
    return event.event == "error" or (
        event.is_run and event.event.removeprefix("thread.run.") in TERMINAL_RUN_STATUSES
    )


def _frame(event: Event, stamps: bool) -> bytes:
    head = f"id: {event.seq}\n" if event.seq else ""
    if stamps:
        head += f": at={event.at:.6f}\n"
    return f"{head}event: {event.event}\ndata: {event.payload}\n\n".encode()


async def _frames(
    svc: Services,
    thread_id: str,
    run_id: str,
    past: list[Event],
    subscription: Subscription,
    stamps: bool,
) -> AsyncIterator[bytes]:
    try:
        for event in past:
            yield _frame(event, stamps)
            if _ends(event):
                yield DONE
                return
        while True:
            try:
                async with asyncio.timeout(QUIET_CHECK_SECONDS):
                    event = await subscription.get()
            except TimeoutError:
                run = await svc.db.run(storage_runs.get_run, thread_id, run_id)
                if run["status"] in TERMINAL_RUN_STATUSES and subscription.queue.empty():
                    break
                yield b": waiting\n\n"  # keeps proxies from closing a quiet stream
                continue
            yield _frame(event, stamps)
            if _ends(event):
                break
        yield DONE
    finally:
        subscription.close()


@router.get("/threads/{thread_id}/threadloom/run")
async def find_turn_run(
    thread_id: str,
    svc: Svc,
    threadloom_turn: Annotated[str, Query(min_length=1, max_length=512)],
    threadloom_attempt: Annotated[int, Query(ge=1)] = 1,
    wait_ms: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """`{"run": …}`: the thread's run tagged with the turn key and attempt (`null` if none), held
    up to `wait_ms` (at most `long_poll_max_ms`) until such a run is created: how a streaming
    reader finds a turn's next run the moment the engine creates it."""
    log = svc.events.log
    wait = min(wait_ms, svc.settings.long_poll_max_ms) / 1000
    deadline = asyncio.get_running_loop().time() + wait
    tags = {TURN_TAG: threadloom_turn, ATTEMPT_TAG: str(threadloom_attempt)}
    while True:
        waiter = log.waiter(thread_id) if log is not None else None
        try:
            page = await svc.db.run(storage_runs.list_runs, thread_id, ListQuery(limit=SCAN_RUNS))
            for run in page["data"]:
                metadata = run.get("metadata") or {}
                if all(metadata.get(key) == value for key, value in tags.items()):
                    return {"run": run}
            left = deadline - asyncio.get_running_loop().time()
            if waiter is None or left <= 0:
                return {"run": None}
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await waiter.wait()
        finally:
            if waiter is not None and log is not None:
                log.forget(thread_id, waiter)


@router.get("/threads/{thread_id}/runs/{run_id}/events", response_model=None)
async def run_events(
    thread_id: str,
    run_id: str,
    svc: Svc,
    after: Annotated[int, Query(ge=0)] = 0,
    threadloom_at: Annotated[bool, Query()] = False,
) -> StreamingResponse:
    """Stream the run's events numbered above `after`, then its live ones, until it ends."""
    log: RunLog | None = svc.events.log
    run = await svc.db.run(storage_runs.get_run, thread_id, run_id)  # 404 for an unknown run
    if log is None:
        raise APIError("This server keeps no run events.", status=404, code="not_found")
    # No await from here to the subscription: nothing is published in between.
    past = log.since(run_id, after)
    if past is None and run["status"] in TERMINAL_RUN_STATUSES:
        raise APIError(
            f"The events of run {run_id} are no longer kept; read its messages.",
            status=410,
            code="run_events_gone",
        )
    if after > log.length(run_id):
        raise APIError(
            f"Run {run_id} has {log.length(run_id)} event(s) so far; 'after' is past them.",
            param="after",
        )
    subscription = svc.events.subscribe(run_id, stalls=False)
    return StreamingResponse(
        _frames(svc, thread_id, run_id, past or [], subscription, threadloom_at),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
