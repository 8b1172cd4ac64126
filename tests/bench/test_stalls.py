"""A batch that stops making progress ends (after `NO_PROGRESS_SECONDS` without a reply, or at its
hard bound) and is reported as stalled, never waited on forever or called met; one that is slow but
steady is not cut off at its expected bound."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from threadloom import benchmarks
from threadloom.benchmarks.drivers import TurnDone
from threadloom.benchmarks.report import Report, summary, table
from threadloom.benchmarks.scenarios import RunLength, Scenarios, Turn
from threadloom.threads_client import ThreadsClient


async def test_a_stalled_batch_reports_what_finished_and_which_turns_did_not(
    monkeypatch: pytest.MonkeyPatch, threads: ThreadsClient, threads_server: Any, assistant_id: str
) -> None:
    monkeypatch.setattr(benchmarks.scenarios, "batch_bound_seconds", lambda *_: 1.0)
    hang_on = set()

    async def driver(turn: Turn) -> TurnDone:
        if len(hang_on) < 2:  # the first two turns never get an answer
            hang_on.add(turn.thread_id)
            await asyncio.Event().wait()
        return TurnDone("run_x", 0.0, turn.text)

    scenarios = Scenarios(threads, threads_server.root_url, assistant_id)
    try:
        batch = await asyncio.wait_for(
            scenarios.run("threadloom", driver, RunLength(0, 0), concurrency=5, turns=5), 20
        )
    finally:
        await scenarios.aclose()

    assert batch.completed == 3
    assert sorted(batch.stalled) == sorted(hang_on)
    report = Report(started_at="now", parameters={})
    found = report.add(batch)
    assert summary(batch)["stalled"] == found["stalled"] == 2
    assert "STALLED: threadloom run 0 ms: 2 turns unanswered" in table(report)


async def _batch(threads: ThreadsClient, threads_server: Any, assistant_id: str, driver: Any) -> Any:
    scenarios = Scenarios(threads, threads_server.root_url, assistant_id)
    try:
        return await asyncio.wait_for(
            scenarios.run("threadloom", driver, RunLength(0, 0), concurrency=5, turns=5), 20
        )
    finally:
        await scenarios.aclose()


async def test_a_batch_without_progress_is_stalled_before_its_hard_bound(
    monkeypatch: pytest.MonkeyPatch, threads: ThreadsClient, threads_server: Any, assistant_id: str
) -> None:
    monkeypatch.setattr(benchmarks.scenarios, "batch_bound_seconds", lambda *_: 100.0)
    monkeypatch.setattr(benchmarks.scenarios, "NO_PROGRESS_SECONDS", 1.0)
    answered = 0

    async def driver(turn: Turn) -> TurnDone:
        nonlocal answered
        if answered >= 3:
            await asyncio.Event().wait()  # the last two never get an answer
        answered += 1
        return TurnDone("run_x", 0.0, turn.text)

    batch = await _batch(threads, threads_server, assistant_id, driver)
    assert (batch.completed, len(batch.stalled)) == (3, 2)
    assert batch.elapsed_s < 10  # ended by the missing progress, not the 400 s hard bound


async def test_a_slow_but_steady_batch_runs_past_its_expected_bound(
    monkeypatch: pytest.MonkeyPatch, threads: ThreadsClient, threads_server: Any, assistant_id: str
) -> None:
    monkeypatch.setattr(benchmarks.scenarios, "batch_bound_seconds", lambda *_: 0.5)
    monkeypatch.setattr(benchmarks.scenarios, "NO_PROGRESS_SECONDS", 1.0)
    order = iter(range(5))

    async def driver(turn: Turn) -> TurnDone:
        await asyncio.sleep(0.3 * (next(order) + 1))  # one reply every 0.3 s, the last at 1.5 s
        return TurnDone("run_x", 0.0, turn.text)

    batch = await _batch(threads, threads_server, assistant_id, driver)
    assert (batch.completed, batch.stalled) == (5, [])
    assert batch.elapsed_s > 1.2
