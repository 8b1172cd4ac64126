"""The additive long-poll of GET run: hold the answer while the run's status is one of `held`.

The wait ends early when the run changes, when the client disconnects (so a gone client does not
stay subscribed for its whole wait), or when the server shuts down (an `error` event from the hub).
A run whose thread is deleted while a long-poll waits answers 404, like every later GET of it.

A second additive extension rides on the same GET (`latest_messages`): a client that asks with
`threadloom_messages=<n>` gets, beside a run that has ended, the thread's newest messages as the
message list would page them, so a turn learns its reply without another request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request

from threadloom.threads_server.errors import not_found
from threadloom.threads_server.events import TERMINAL_RUN_STATUSES, RunEvents, Subscription
from threadloom.threads_server.storage import Database
from threadloom.threads_server.storage import messages as storage_messages
from threadloom.threads_server.storage import runs as storage_runs
from threadloom.threads_server.storage.rows import ListQuery

RUN_MESSAGES_MAX = 100
"""The most messages one GET of a run carries (`threadloom_messages`, a list page's limit)."""


async def _disconnected(request: Request) -> None:
    """Return once the client has gone away (the request body, if any, is already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _next_run(subscription: Subscription, run: dict[str, Any]) -> dict[str, Any] | None:
    """The run as of its next event; None when the subscription was ended (shutdown)."""
    event = await subscription.get()
    if event.gone:
        raise not_found("run", run["id"])
    if event.event == "error":
        return None
    data: dict[str, Any] = event.data
    return data


def _waiting(run: dict[str, Any], held: set[str]) -> bool:
    return run["status"] in held and run["status"] not in TERMINAL_RUN_STATUSES


async def hold(
    request: Request,
    db: Database,
    events: RunEvents,
    thread_id: str,
    run_id: str,
    held: set[str],
    wait_seconds: float,
) -> dict[str, Any]:
    """The run, once its status is not in `held` (default: its status on arrival) or the wait ends."""
    with events.subscribe(run_id, runs_only=True) as subscription:
        run: dict[str, Any] = await db.run(storage_runs.get_run, thread_id, run_id)
        held = held or {run["status"]}
        if wait_seconds <= 0 or not _waiting(run, held):
            return run
        gone = asyncio.ensure_future(_disconnected(request))
        change: asyncio.Future[dict[str, Any] | None] | None = None
        try:
            async with asyncio.timeout(wait_seconds):
                while _waiting(run, held):
                    change = asyncio.ensure_future(_next_run(subscription, run))
                    await asyncio.wait([change, gone], return_when=asyncio.FIRST_COMPLETED)
                    if not change.done():
                        break  # the client is gone: nobody reads the answer
                    changed = change.result()
                    if changed is None:
                        break
                    run = changed
        except TimeoutError:
            pass
        finally:
            gone.cancel()
            if change is not None:
                change.cancel()
    return run


async def latest_messages(db: Database, thread_id: str, limit: int) -> dict[str, Any]:
    """The thread's newest `limit` messages, newest first: `GET …/messages?order=desc&limit=`'s page.

    Read after the run ended, so the page holds what the run wrote; a client that needs more (or the
    messages before them) pages on from its `last_id` with the message list.
    """
    page: dict[str, Any] = await db.run(
        storage_messages.list_messages, thread_id, ListQuery(limit=limit, order="desc")
    )
    return page
