"""The benchmark's results as a table for people and as JSON, with each target met or not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from threadloom.benchmarks import capacity
from threadloom.benchmarks.figures import percentile
from threadloom.benchmarks.scenarios import Batch


def summary(batch: Batch) -> dict[str, Any]:
    """The figures of one batch."""
    turns = max(batch.completed, 1)
    return {
        "driver": batch.driver,
        "run_ms": batch.run_length,
        "concurrency": batch.concurrency,
        "turns": batch.turns,
        "completed": batch.completed,
        "errors": len(batch.errors),
        "stalled": len(batch.stalled),
        "stalled_threads": batch.stalled[:5],
        "first_error": batch.errors[0] if batch.errors else None,
        "lag_ms": {f"p{q}": percentile(batch.lag_ms, q) for q in (50, 95, 99)},
        "wall_ms": {f"p{q}": percentile(batch.wall_ms, q) for q in (50, 95, 99)},
        "requests_per_turn": batch.requests / turns,
        "turns_per_s": batch.completed / batch.elapsed_s if batch.elapsed_s else None,
    }


@dataclass
class Report:
    """Everything one `threadloom bench` measured."""

    started_at: str
    parameters: dict[str, Any]
    batches: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    capacity: dict[str, Any] = field(default_factory=lambda: {"inputs": {}})
    """The capacity model's per-turn inputs (`benchmarks.capacity`) and the sizing worked from them."""

    def add(self, batch: Batch) -> dict[str, Any]:
        """Record a batch; returns its summary."""
        found = summary(batch)
        self.batches.append(found)
        return found

    def target(
        self,
        name: str,
        met: bool | None,
        value: str,
        *,
        before: str | None = None,
        bound: str | None = None,
    ) -> None:
        """Record a target as met (True), missed (False) or not measured (None).

        `before` is the figure when issue 14 was filed (`FILED`), `bound` what this run measured
        that bounds a miss (printed for misses only)."""
        self.targets.append(
            {"target": name, "met": met, "value": value, "before": before, "bound": bound}
        )

    def size(self) -> None:
        """Work out the sizing table from the capacity inputs gathered so far."""
        self.capacity["sizing"] = capacity.sizing(self.capacity["inputs"])

    def to_json(self) -> str:
        """All of it as JSON."""
        return json.dumps(self.__dict__, indent=2, default=str)


FILED_WHEN = "the figure when issue 14 was filed, 2026-12-01, on the stock dev server"
FILED = {
    "requests": "4 requests per happy turn",
    "events": "14 history events per happy turn",
    "lag_instant": "lag p50 191 ms",
    "lag_spread": "lag p50 13 ms, at 4 requests per turn",
    "lag_fixed": "lag p50 29 ms (2000 ms runs), 28 ms (8000 ms runs)",
    "overhead": "93 ms (24 ms with the dev stack's transfer-reader setting)",
    "throughput": "0.90 / 0.72 / 0.69 x the no-op at concurrency 1 / 50 / 200",
    "in_flight": "lag p50 4.5 s; beside a CPU hog 166 failed and 807 stalled of 1,000",
    "crash_recovery": "p95 10-13 s (the 10 s heartbeat timeout)",
}
"""Issue 14's figures from before its work, by target: printed beside each target's figure now."""


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(report: Report) -> str:
    """A fixed-width table of the batches, then the extra figures and the targets."""
    head = (
        f"{'driver':<11}{'run ms':>11}{'conc':>7}{'done':>11}{'err':>5}"
        f"{'lag p50':>9}{'p95':>8}{'p99':>8}{'wall p50':>10}{'p95':>8}{'req/turn':>9}{'turns/s':>9}"
    )
    lines = [head, "-" * len(head)]
    for b in report.batches:
        lag, wall = b["lag_ms"], b["wall_ms"]
        done = f"{b['completed']}/{b['turns']}"
        lines.append(
            f"{b['driver']:<11}{b['run_ms']:>11}{b['concurrency']:>7}"
            f"{done:>11}{b['errors']:>5}"
            f"{_num(lag['p50']):>9}{_num(lag['p95']):>8}{_num(lag['p99']):>8}"
            f"{_num(wall['p50']):>10}{_num(wall['p95']):>8}"
            f"{_num(b['requests_per_turn'], 1):>9}{_num(b['turns_per_s'], 1):>9}"
        )
    for b in report.batches:
        if b["stalled"]:
            lines.append(
                f"STALLED: {b['driver']} run {b['run_ms']} ms: {b['stalled']} turns unanswered when the "
                f"batch stopped making progress, e.g. on threads {', '.join(b['stalled_threads'])}"
            )
    lines.append("")
    for key, value in report.extra.items():
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            lines += [f"{key}:", *(f"  {item}" for item in value)]
        else:
            lines.append(f"{key}: {value}")
    lines.append("")
    lines.extend(capacity.lines(report.capacity))
    lines.append("")
    lines.append(f"targets (before: {FILED_WHEN}):")
    for t in report.targets:
        mark = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
        lines.append(f"  [{mark}] {t['target']}: {t['value']}")
        if t.get("before"):
            lines.append(f"           before: {t['before']}")
        if t["met"] is False and t.get("bound"):
            lines.append(f"           what bounds it here: {t['bound']}")
    return "\n".join(lines)
