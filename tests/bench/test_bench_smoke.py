"""A short run of `threadloom bench`: it runs end to end and its numbers are sane (never fast)."""

from __future__ import annotations

import json
import subprocess
import sys

SMOKE = [
    *("--run-ms", "0,300", "--turns", "3", "--concurrency", "3"),
    *("--throughput", "1,4", "--throughput-turns", "8"),
    # A short in-flight phase beside a CPU hog (a second process keeping one core busy).
    *("--in-flight", "10", "--in-flight-run-ms", "1500", "--cpu-hog"),
    # One SIGKILL of the worker among 6 turns: the turns it hits wait out the dead worker's
    # heartbeat timeout (3 s) or workflow task timeout (3 s), so this adds a few seconds.
    *("--crash", "6", "--crash-kills", "1", "--crash-run-ms", "500"),
    *("--limited-model", "0"),  # tests/bench/test_limited_model.py runs that phase
    *("--server", "sqlite,postgresql", "--server-turns", "6", "--server-concurrency", "3"),
    *("--stream-turns", "1", "--stream-deltas", "10", "--stream-delay-ms", "2"),  # streaming phase
    "--json",
]


def test_bench_smoke_run_is_sane() -> None:
    # Its own process: the benchmark starts its own dev server, threads server and workers.
    done = subprocess.run(
        [sys.executable, "-m", "threadloom.starter.cli", "bench", *SMOKE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout[done.stdout.index("{") :])
    drivers = {b["driver"] for b in report["batches"]}
    assert {"threadloom", "seed", "direct", "noop", "crash"} <= drivers
    for batch in report["batches"]:
        assert batch["completed"] == batch["turns"], batch
        assert batch["errors"] == 0, batch
        assert batch["wall_ms"]["p50"] > 0
        assert batch["turns_per_s"] > 0
        if batch["driver"] == "noop":
            assert batch["requests_per_turn"] == 0
            if batch["concurrency"] == 3:  # side by side: the no-op floor of the lag, per run length
                assert batch["lag_ms"]["p50"] is not None and batch["lag_ms"]["p50"] > -50, batch
            continue
        # threadloom: the run (with the message) and at least one read of it; the others add the
        # message on its own and list the reply: 4 at least. Polling a 300 ms run once a second,
        # or scanning before writes, stays well under 20.
        # The server phase's batches (`sqlite`, `pg x1`, …) are threadloom turns too.
        engine = batch["driver"].startswith(("threadloom", "crash", "sqlite", "pg "))
        least = 2 if engine else 4
        assert least <= batch["requests_per_turn"] <= 20, batch
        assert batch["lag_ms"]["p50"] is not None and batch["lag_ms"]["p50"] > -50, batch
    history = report["extra"]["history per happy turn"]
    assert 1 <= history["events (min/median/max)"][2] <= 100
    assert history["actions (min/median/max)"][0] >= 1
    assert {t["met"] for t in report["targets"]} <= {True, False, None}
    streamed = report["extra"]["streaming"]["ways"]  # streaming phase: every way streamed it all
    assert {"threadloom", "workflow streams (100 ms)"} <= set(streamed)
    assert all(way["deltas_per_turn"] == 10 for way in streamed.values()), streamed
    overload = report["extra"]["in-flight overload (from the completed turns' histories)"]
    assert overload["histories"] == 10 and overload["failed turns"] == 0, overload
    slowest = report["extra"]["slowest in-flight turns"]
    assert len(slowest) == 3 and all("longest gap" in line for line in slowest), slowest
    floors = [t["value"] for t in report["targets"] if t["target"].startswith("completion lag")]
    assert len(floors) == 2 and all("no-op floor" in d for d in floors), floors
    # Every target of issue 14 carries its figure from before that issue and what bounds a miss.
    for t in report["targets"]:
        if not t["target"].startswith(("crash tolerance", "server phase", "streaming")):
            assert t["before"] and (t["met"] is not False or t["bound"]), t
    recoveries = report["extra"][
        "slowest recoveries (history events, s after the last kill that hit the turn)"
    ]
    assert recoveries and all("after the kill: +" in line for line in recoveries), recoveries
    assert report["parameters"]["cpu_hog"] is True
    inputs = report["capacity"]["inputs"]
    for key in ("worker_cpu_ms", "requests", "history_events", "actions", "waiting_turn_kib"):
        assert inputs[key] is not None and inputs[key] > 0, inputs
    assert [row["turns_per_s"] for row in report["capacity"]["sizing"]] == [10, 100, 1000]
    assert (
        report["capacity"]["sizing"][2]["worker_cores"] > report["capacity"]["sizing"][0]["worker_cores"]
    )
    crash = report["extra"]["crash tolerance"]
    assert crash["turns completed"] == "6/6", crash
    assert crash["turns verified on their thread"] == "6/6", crash
    assert crash["errors"] == 0, crash
    assert crash["duplicate user messages"] == 0, crash
    assert crash["duplicate assistant messages"] == 0, crash
    assert crash["duplicate completed runs"] == 0, crash
    assert crash["unfinished runs by status"] == {}, crash
    assert crash["kills done"] == 1 and crash["worker restarts"] == 1, crash
    assert crash["problems"] == [], crash
    (target,) = [t for t in report["targets"] if t["target"].startswith("crash tolerance")]
    assert target["met"] is True, target
    server = report["extra"]["server phase (concurrency 3)"]
    assert {"sqlite", "pg x1"} <= drivers
    assert server["sqlite"]["turns/s"] > 0 and server["pg x1"]["turns/s"] > 0, server
    assert server["pg x1"]["threads server CPU ms/turn"] > 0, server
    assert server["pg x1"]["PostgreSQL CPU ms/turn"] > 0, server
