"""The benchmark's arithmetic: percentiles, run lengths and the billable-action count of a history."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from threadloom.benchmarks.capacity import UTILIZATION, sizing
from threadloom.benchmarks.figures import count_history, percentile
from threadloom.benchmarks.overload import HistoryFaults, count_faults, events_since, longest_gap
from threadloom.benchmarks.report import Report, table
from threadloom.benchmarks.scenarios import RunLength
from threadloom.starter.history import load_history

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


HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def _faults(name: str) -> HistoryFaults:
    found = HistoryFaults()
    count_faults(found, list(load_history(HISTORIES / f"{name}.json").events))
    return found


def test_overload_is_counted_from_a_recorded_history() -> None:
    # Cancelling that turn's run met four injected 500s: its local activity ran five times.
    retried = _faults("turn-run-completed-while-cancelling-with-run")
    assert retried.local_activity_retries == 4
    assert retried.activity_retries == retried.activity_timeouts == 0
    quick = _faults("turn-quick-run")
    assert quick.as_dict() == HistoryFaults(histories=1).as_dict()  # nothing went wrong
    assert (quick.events, quick.actions) == ([8], [3])


def test_the_sizing_scales_the_per_turn_inputs() -> None:
    inputs: dict[str, float | None] = {
        "worker_cpu_ms": 30.0,
        "requests": 2.0,
        "actions": 3.0,
        "heartbeats_per_turn": 1.0,
        "waiting_turn_kib": 100.0,
        "run_seconds": 5.0,
        "threads_server_cpu_ms": None,  # not measured: no figure, rather than a made-up one
    }
    ten, hundred, thousand = sizing(inputs)
    assert (ten["turns_per_s"], hundred["turns_per_s"], thousand["turns_per_s"]) == (10, 100, 1000)
    assert hundred["worker_cores"] == round(100 * 30 / 1000 / UTILIZATION, 1) == 5.0
    assert thousand["threads_api_requests_per_s"] == 2000
    assert hundred["turns_waiting"] == 500
    assert hundred["worker_memory_mib_for_waiting_turns"] == round(500 * 100 / 1024, 1)
    assert ten["cloud_actions_per_turn"] == 4.0 and ten["cloud_actions_per_s"] == 40.0
    assert thousand["threads_server_cores"] is None


def at(seconds: float, kind: EventType.ValueType) -> HistoryEvent:
    """A history event of `kind` at `seconds` after the epoch."""
    event = HistoryEvent(event_type=kind)
    event.event_time.FromMilliseconds(int(seconds * 1000))
    return event


def test_a_lag_tail_is_named_by_the_longest_gap_of_its_history() -> None:
    scheduled = at(1.0, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    scheduled.activity_task_scheduled_event_attributes.activity_type.name = "wait_for_run"
    timed_out = at(9.5, E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)
    timed_out.workflow_task_timed_out_event_attributes.timeout_type = 2  # schedule-to-start
    events = [
        at(0.0, E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        scheduled,
        at(6.0, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
        at(6.1, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        timed_out,
        at(9.6, E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    ]
    assert longest_gap(events) == (
        "longest gap 5.0 s: ActivityTaskScheduled(wait_for_run) -> ActivityTaskCompleted"
    )
    assert longest_gap(events[3:]) == (
        "longest gap 3.4 s: WorkflowTaskScheduled -> WorkflowTaskTimedOut(schedule_to_start)"
    )
    assert longest_gap(events[:1]) == "no gap (fewer than two events)"


def test_a_recovery_is_told_event_by_event_from_the_kill() -> None:
    retried = at(104.2, E.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    retried.activity_task_started_event_attributes.attempt = 2
    events = [
        at(99.0, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        retried,
        at(104.3, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
    ]
    assert events_since(events, 100.0) == (
        "+4.2 ActivityTaskStarted(attempt 2), +4.3 ActivityTaskCompleted"
    )
    assert events_since(events, 200.0) == "no event since"


def test_the_targets_print_their_before_figure_and_what_bounds_a_miss() -> None:
    report = Report(started_at="now", parameters={})
    report.target("lag", False, "lag p50 85 ms", before="lag p50 191 ms", bound="the floor: 46 ms")
    report.target("events", True, "max 8", before="14", bound="not printed: met")
    lines = table(report).splitlines()
    at = lines.index("  [MISSED] lag: lag p50 85 ms")
    assert lines[at + 1 : at + 3] == [
        "           before: lag p50 191 ms",
        "           what bounds it here: the floor: 46 ms",
    ]
    assert lines[at + 3 :] == ["  [MET   ] events: max 8", "           before: 14"]
