"""A batch that stops making progress ends at its time bound and is reported as stalled, never
waited on forever or called met."""

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
