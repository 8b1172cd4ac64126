"""A capacity model: from the benchmark's per-turn figures to a deployment's size at a turn rate.

The phases put their per-turn inputs into `Report.capacity["inputs"]`; `sizing()` turns them into
one row per rate. The arithmetic is deliberately plain, so a team can redo it with its own inputs
(`threadloom bench --json` on its own hardware):

- cores of a part = rate x its CPU ms per turn / 1000 / `UTILIZATION` (headroom for bursts);
- turns waiting at once = rate x the run's length (Little's law), each holding the measured memory
  of a waiting turn in the worker;
- heartbeat RPCs/s = rate x the heartbeats one in-flight turn cost (runs as long as the in-flight
  phase's, which outlast the first read and so wait in the heartbeating activity);
- Temporal Cloud actions per turn = the billable actions of such a turn's history (the in-flight
  turns', else a happy turn's) + those heartbeats;
- Threads API requests/s = rate x a happy turn's requests; history events/s = rate x the events of
  a turn like the in-flight ones (else a happy turn's): what the threads server's database and the
  Temporal cluster's persistence must absorb.

The Temporal figures come from the single-process dev server (in memory, one history shard): its CPU
per turn says what the engine asks of Temporal, not what a production cluster on PostgreSQL or
Cassandra spends on it; size those from the events and actions per second.
"""

from __future__ import annotations

from typing import Any

RATES = (10, 100, 1000)
"""Turns per second the sizing table is worked out for."""
UTILIZATION = 0.6
"""Planned CPU utilization of each core: the rest is headroom for bursts and garbage collection."""

INPUT_DOCS = {
    "worker_cpu_ms": "worker CPU ms per happy turn (throughput phase, highest concurrency)",
    "temporal_cpu_ms": "Temporal dev server CPU ms per happy turn (same batch)",
    "threads_server_cpu_ms": "threads server CPU ms per happy turn (same batch)",
    "requests": "Threads API requests per happy turn (instant runs, side by side)",
    "history_events": "history events per happy turn (median of the sampled histories)",
    "actions": "billable Temporal actions per happy turn (median, heartbeats not included)",
    "waiting_turn_kib": "worker memory per waiting turn, KiB (in-flight phase: peak - before)",
    "heartbeats_per_turn": "heartbeat RPCs per in-flight turn (dev server's count / turns)",
    "in_flight_events": "history events per in-flight turn (median; its run outlasts the first read)",
    "in_flight_actions": "billable actions per in-flight turn (median, heartbeats not included)",
    "run_seconds": "run length of the in-flight turns, s (the waiting time assumed below)",
}


def sizing(inputs: dict[str, float | None]) -> list[dict[str, Any]]:
    """One row per rate in `RATES`; a figure whose input was not measured is None."""
    return [_row(rate, inputs) for rate in RATES]


def _row(rate: int, inputs: dict[str, float | None]) -> dict[str, Any]:
    def per_s(key: str) -> float | None:
        value = inputs.get(key)
        return None if value is None else rate * value

    def cores(key: str) -> float | None:
        value = inputs.get(key)
        return None if value is None else _round(rate * value / 1000 / UTILIZATION)

    waiting = per_s("run_seconds")
    kib = inputs.get("waiting_turn_kib")
    actions = _first(inputs, "in_flight_actions", "actions")
    events = _first(inputs, "in_flight_events", "history_events")
    beats = inputs.get("heartbeats_per_turn")
    per_turn = None if actions is None else actions + (beats or 0.0)
    return {
        "turns_per_s": rate,
        "worker_cores": cores("worker_cpu_ms"),
        "threads_server_cores": cores("threads_server_cpu_ms"),
        "temporal_dev_server_cores": cores("temporal_cpu_ms"),
        "threads_api_requests_per_s": _round(per_s("requests")),
        "history_events_per_s": None if events is None else _round(rate * events),
        "turns_waiting": _round(waiting),
        "worker_memory_mib_for_waiting_turns": (
            None if waiting is None or kib is None else _round(waiting * kib / 1024)
        ),
        "heartbeat_rpcs_per_s": _round(per_s("heartbeats_per_turn")),
        "cloud_actions_per_turn": _round(per_turn),
        "cloud_actions_per_s": None if per_turn is None else _round(rate * per_turn),
    }


def _first(inputs: dict[str, float | None], *keys: str) -> float | None:
    """The first of `keys` that was measured."""
    return next((inputs[key] for key in keys if inputs.get(key) is not None), None)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def lines(capacity: dict[str, Any]) -> list[str]:
    """The inputs and the sizing table as text lines for the report's table."""
    inputs: dict[str, Any] = capacity.get("inputs", {})
    found = ["capacity inputs (per turn):"]
    found += [f"  {key} = {inputs.get(key)}  ({doc})" for key, doc in INPUT_DOCS.items()]
    found.append(f"sizing at {UTILIZATION:.0%} CPU utilization per core:")
    for row in capacity.get("sizing", []):
        found.append("  " + ", ".join(f"{key} {value}" for key, value in row.items()))
    return found
