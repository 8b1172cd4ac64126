"""The benchmark's arithmetic: percentiles, run lengths and the billable-action count of a history."""

from __future__ import annotations

import random

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from threadloom.benchmarks.figures import count_history, percentile
from threadloom.benchmarks.scenarios import RunLength

E = EventType


def _event(kind: EventType.ValueType, attempt: int = 1) -> HistoryEvent:
    event = HistoryEvent(event_type=kind)
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        event.activity_task_started_event_attributes.attempt = attempt
    return event


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(v) for v in range(101)], 95) == 95.0


def test_run_length_fixed_or_range() -> None:
    rng = random.Random(1)
    assert RunLength.parse("2000").sample(rng) == 2000
    spread = RunLength.parse("500..3000")
    assert all(500 <= spread.sample(rng) <= 3000 for _ in range(50))
    assert str(spread) == "500..3000"
    with pytest.raises(ValueError):
        RunLength.parse("3000..500")


def test_actions_of_a_happy_turn() -> None:
    # TurnWorkflow's happy path: two local activities in the first workflow task, the wait as a
    # regular activity (retried once here), the third local activity in the second workflow task.
    history = [
        _event(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        _event(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        _event(E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
        _event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        _event(E.EVENT_TYPE_MARKER_RECORDED),
        _event(E.EVENT_TYPE_MARKER_RECORDED),
        _event(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        _event(E.EVENT_TYPE_ACTIVITY_TASK_STARTED, attempt=2),
        _event(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
        _event(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        _event(E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
        _event(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        _event(E.EVENT_TYPE_MARKER_RECORDED),
        _event(E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED),
    ]
    counted = count_history(history)
    assert counted.events == 14
    # start 1 + activity attempts 2 + local activities in two workflow tasks 2
    assert counted.actions == 5
    assert counted.kinds["MARKER_RECORDED"] == 3
