"""Numbers from samples and histories: percentiles, history events and billable actions per turn.

Actions are counted from each fetched history the way Temporal Cloud bills them:
- 1 for the workflow start (`WorkflowExecutionStarted`);
- 1 per activity attempt (`ActivityTaskStarted`; its `attempt` field counts the retries it hides);
- 1 per workflow task that recorded local-activity markers (`MarkerRecorded`): Cloud bills the local
  activities (and their retries) run within one workflow task as one action;
- 1 per timer, search-attribute upsert, signal, update, child workflow or continue-as-new.
Heartbeats that reach the server are billed too but leave no event; queries neither. So the count is a
floor: a long `wait_for_run` adds about one action per heartbeat interval.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

ONE_ACTION = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100), linear between closest ranks; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    """The median, or None without values."""
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class HistoryCount:
    """Events and billable actions of one workflow execution, and the event types seen."""

    events: int
    actions: int
    kinds: dict[str, int]


def count_history(events: list[object]) -> HistoryCount:
    """Count the events of a history and its billable actions (module docstring)."""
    actions = 0
    kinds: dict[str, int] = {}
    for event in events:
        kind = event.event_type  # type: ignore[attr-defined]
        name = EventType.Name(kind).removeprefix("EVENT_TYPE_")
        kinds[name] = kinds.get(name, 0) + 1
        if kind in ONE_ACTION:
            actions += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            actions += max(1, event.activity_task_started_event_attributes.attempt)  # type: ignore[attr-defined]
    return HistoryCount(len(events), actions + _marker_tasks(events), kinds)


def _marker_tasks(events: list[object]) -> int:
    """Workflow tasks whose completion recorded at least one local-activity marker."""
    tasks, seen = 0, False
    for event in events:
        kind = event.event_type  # type: ignore[attr-defined]
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            seen = False
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED and not seen:
            tasks, seen = tasks + 1, True
    return tasks


async def history_counts(client: Client, workflow_ids: list[str]) -> list[HistoryCount]:
    """Fetch the histories and count each."""
    counts = []
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        counts.append(count_history(list(history.events)))
    return counts
