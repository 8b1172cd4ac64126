"""Overload: a CPU hog beside the stack, and what it cost the turns, read from their histories.

`cpu_hog()` runs a second Python process that keeps one core busy (a tight loop) for as long as the
block runs, so the worker, the dev server and the threads server share what is left. `faults_of()`
reads the turns' histories and counts what a starved worker turns into: activity timeouts (a missed
heartbeat or start-to-close), activity retries (attempts beyond the first), workflow task timeouts
and failures, and local activities that needed more than one attempt. `rpc_count()` reads how
many calls of one operation the dev server has served (its `service_requests` metric): the
heartbeats that waiting turns cost it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from threadloom.benchmarks.figures import count_history

HOG = "while True: pass"
FETCH_CONCURRENCY = 20


@contextlib.asynccontextmanager
async def cpu_hog(enabled: bool = True) -> AsyncIterator[None]:
    """Keep one core busy in another process while the block runs (nothing when not `enabled`)."""
    if not enabled:
        yield
        return
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOG,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.kill()
        await process.wait()


@dataclass
class HistoryFaults:
    """What the turns' histories show of overload."""

    histories: int = 0
    activity_timeouts: int = 0
    activity_retries: int = 0
    workflow_task_timeouts: int = 0
    """Start-to-close: a worker took a workflow task and did not complete it in time."""
    sticky_timeouts: int = 0
    """Schedule-to-start on the worker's sticky queue: it did not take the task in time, so the task
    went to the shared queue (where any worker replays the workflow to run it)."""
    workflow_task_failures: int = 0
    local_activity_retries: int = 0
    events: list[int] = field(default_factory=list)
    """History events of each turn."""
    actions: list[int] = field(default_factory=list)
    """Billable actions of each turn (`figures.count_history`)."""

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {
            name: value for name, value in self.__dict__.items() if name not in ("events", "actions")
        }


def count_faults(found: HistoryFaults, events: list[object]) -> None:
    """Add one history's overload events to `found`."""
    found.histories += 1
    counted = count_history(events)
    found.events.append(counted.events)
    found.actions.append(counted.actions)
    for event in events:
        kind = event.event_type  # type: ignore[attr-defined]
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            found.activity_timeouts += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attempt = event.activity_task_started_event_attributes.attempt  # type: ignore[attr-defined]
            found.activity_retries += max(0, attempt - 1)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            timeout = event.workflow_task_timed_out_event_attributes.timeout_type  # type: ignore[attr-defined]
            if timeout == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START:
                found.sticky_timeouts += 1
            else:
                found.workflow_task_timeouts += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            found.workflow_task_failures += 1
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            found.local_activity_retries += _local_attempts(event) - 1


def _local_attempts(event: object) -> int:
    """The attempts a local-activity marker records (1 when it says nothing)."""
    attributes = event.marker_recorded_event_attributes  # type: ignore[attr-defined]
    if attributes.marker_name != "core_local_activity":
        return 1
    data = attributes.details.get("data")
    if data is None or not data.payloads:
        return 1
    try:
        return max(1, int(json.loads(data.payloads[0].data).get("attempt", 1)))
    except (ValueError, TypeError, AttributeError):
        return 1


async def faults_of(client: Client, workflow_ids: list[str]) -> HistoryFaults:
    """Fetch the histories of `workflow_ids` (a few at a time) and count their overload events."""
    found = HistoryFaults()
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(workflow_id: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        count_faults(found, list(history.events))

    await asyncio.gather(*(one(w) for w in workflow_ids))
    return found


HEARTBEAT_RPC = "RecordActivityTaskHeartbeat"


async def rpc_count(metrics_url: str, operation: str = HEARTBEAT_RPC) -> int | None:
    """Calls of `operation` the dev server has served so far; None if its metrics are not readable."""
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(metrics_url)).text
    except httpx.HTTPError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("service_requests{") and f'operation="{operation}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


SLOWEST_SHOWN = 3


async def slowest_turns(
    client: Client, lagged: list[tuple[str, float]], count: int = SLOWEST_SHOWN
) -> list[str]:
    """The `count` turns of the longest lag (workflow id, ms), each with where its history stood
    still longest: what a lag tail is made of."""
    worst = sorted(lagged, key=lambda turn: turn[1], reverse=True)[:count]
    lines = []
    for workflow_id, lag in worst:
        events: list[Any] = list((await client.get_workflow_handle(workflow_id).fetch_history()).events)
        faults = HistoryFaults()
        count_faults(faults, events)
        seen = [
            f"{n} {name.replace('_', ' ')}"
            for name, n in faults.as_dict().items()
            if n and name != "histories"
        ]
        lines.append(
            f"{workflow_id}: lag {lag / 1000:.1f} s, {longest_gap(events)}"
            + (f" ({', '.join(seen)})" if seen else "")
        )
    return lines


def longest_gap(events: list[Any]) -> str:
    """The longest time between two consecutive events of a history, and which two they were."""
    if len(events) < 2:
        return "no gap (fewer than two events)"
    before, after = max(itertools.pairwise(events), key=lambda pair: _seconds(*pair))
    gap = _seconds(before, after)
    return f"longest gap {gap:.1f} s: {_event_name(before)} -> {_event_name(after)}"


def events_since(events: list[Any], wall_s: float) -> str:
    """The events of a history from `wall_s` (a `time.time()`) on, each at its offset in seconds:
    `+2.9 ActivityTaskStarted(attempt 2), +3.0 ActivityTaskCompleted, ...`."""
    shown = []
    for event in events:
        offset = event.event_time.ToDatetime(UTC).timestamp() - wall_s
        if offset >= 0:
            shown.append(f"+{offset:.1f} {_event_name(event)}")
    return ", ".join(shown) or "no event since"


def _seconds(before: Any, after: Any) -> float:
    return float((after.event_time.ToDatetime() - before.event_time.ToDatetime()).total_seconds())


def _event_name(event: Any) -> str:
    """`ActivityTaskScheduled(wait_for_run)`, `WorkflowTaskTimedOut(ScheduleToStart)`, ..."""
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    name = "".join(word.capitalize() for word in kind.split("_"))
    detail = ""
    if event.HasField("activity_task_scheduled_event_attributes"):
        detail = event.activity_task_scheduled_event_attributes.activity_type.name
    elif event.HasField("workflow_task_timed_out_event_attributes"):
        timeout = event.workflow_task_timed_out_event_attributes.timeout_type
        detail = TimeoutType.Name(timeout).removeprefix("TIMEOUT_TYPE_").lower()
    elif event.HasField("activity_task_started_event_attributes"):
        detail = f"attempt {event.activity_task_started_event_attributes.attempt}"
    elif event.HasField("activity_task_timed_out_event_attributes"):
        failure = event.activity_task_timed_out_event_attributes.failure
        detail = failure.message[:60]
    return f"{name}({detail})" if detail else name
