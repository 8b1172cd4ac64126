"""Concurrency caps per model (`THREADLOOM_SERVER_MODEL_CONCURRENCY`): runs past the cap stay
`queued`, start in creation order as others finish, and still honour cancel, expiry and deletion.

Both backends (`db`): on PostgreSQL the in-process app is a replica, so the cap goes through the
lease claim; on SQLite through the one process's claim.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.server.conftest import ApiFactory
from tests.server.helpers import Api
from threadloom.threads_server.cli import serve_main
from threadloom.threads_server.run_caps import RunCaps
from threadloom.threads_server.settings import ServerSettings


async def _status(api: Api, run: dict[str, Any]) -> dict[str, Any]:
    return await api.ok("GET", f"/threads/{run['thread_id']}/runs/{run['id']}")


async def _observe(api: Api, runs: list[dict[str, Any]]) -> list[str]:
    """The runs' statuses, read one by one newest first: as runs start in creation order, every
    run seen `in_progress` was so when the newest of them was read, and an older run seen `queued`
    was so when a newer one was seen started; so the checks below see no transient double count."""
    statuses = [(await _status(api, run))["status"] for run in reversed(runs)]
    return statuses[::-1]


async def _runs(api: Api, assistant_id: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    """`count` runs, each on a new thread, created one right after the other (creation order)."""
    runs = []
    for number in range(count):
        thread = await api.thread(f"turn {number}")
        runs.append(await api.run(thread["id"], assistant_id, **fields))
    return runs


async def test_runs_past_the_cap_wait_and_start_in_creation_order(make_api: ApiFactory) -> None:
    async with make_api(model_concurrency="echo=2,*=50") as api:
        assistant = await api.assistant()
        runs = await _runs(api, assistant["id"], 5, metadata={"fault": "delay=250"})
        most, observations = 0, 0
        async with asyncio.timeout(20):
            while True:
                statuses = await _observe(api, runs)
                observations += 1
                running = statuses.count("in_progress")
                most = max(most, running)
                assert running <= 2, statuses
                started = [status != "queued" for status in statuses]
                # the runs that left `queued` are always the first ones created
                assert started == sorted(started, reverse=True), statuses
                if all(status == "completed" for status in statuses):
                    break
                await asyncio.sleep(0.02)
        assert most == 2 and observations > 5
        for number, run in enumerate(runs):
            assert await api.reply_text(run["thread_id"], run["id"]) == f"Echo: turn {number}"


async def test_a_waiting_run_honours_cancel_deletion_and_expiry(make_api: ApiFactory) -> None:
    """Cap 1, held by a stalled run. Behind it: W (back in `queued` after its tool outputs, so it
    expires first), B (cancelled), C (its thread deleted). None of them starts, none frees the
    slot; once the stalled run is cancelled, the next run starts and completes."""
    async with make_api(model_concurrency="echo=1", run_expiry_seconds=4) as api:
        assistant = await api.assistant()
        tools_thread = await api.thread("/tool lookup")
        waiting = await api.wait(await api.run(tools_thread["id"], assistant["id"]))
        assert waiting["status"] == "requires_action"  # waiting for outputs takes no slot
        # the stalled run is created two seconds later, so it expires two seconds after W (time
        # enough to set W up before it expires, and to look at the stalled run after)
        await asyncio.sleep(max(0.0, waiting["created_at"] + 2 - time.time()))
        (stalled,) = await _runs(api, assistant["id"], 1, metadata={"fault": "stall"})
        stalled = await api.wait(stalled, until={"in_progress"})
        cancelled, deleted = await _runs(api, assistant["id"], 2)
        (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
        path = f"/threads/{tools_thread['id']}/runs/{waiting['id']}/submit_tool_outputs"
        outputs = {"tool_outputs": [{"tool_call_id": call["id"], "output": "42"}]}
        assert (await api.ok("POST", path, json=outputs))["status"] == "queued"

        await api.ok("POST", f"/threads/{cancelled['thread_id']}/runs/{cancelled['id']}/cancel")
        cancelled = await api.wait(cancelled)
        assert (cancelled["status"], cancelled["started_at"]) == ("cancelled", None)
        await api.ok("DELETE", f"/threads/{deleted['thread_id']}")
        gone = await api.client.get(f"/threads/{deleted['thread_id']}/runs/{deleted['id']}")
        assert gone.status_code == 404
        assert (await _status(api, waiting))["status"] == "queued"  # still behind the stalled run

        expired = await api.wait(waiting, until={"expired", "completed", "in_progress"})
        assert expired["status"] == "expired"
        assert (await _status(api, stalled))["status"] == "in_progress"
        assert await api.messages(tools_thread["id"], run_id=waiting["id"]) == []  # never replied

        (last,) = await _runs(api, assistant["id"], 1)
        await asyncio.sleep(0.2)
        assert (await _status(api, last))["status"] == "queued"
        await api.ok("POST", f"/threads/{stalled['thread_id']}/runs/{stalled['id']}/cancel")
        assert (await api.wait(last))["status"] == "completed"
        assert await api.reply_text(last["thread_id"], last["id"]) == "Echo: turn 0"


def test_cap_settings_parse_and_refuse_bad_values() -> None:
    caps = RunCaps.parse("gpt-4o=5, assistant:asst_1=2 ,*=10,llama3:8b=1")
    assert caps is not None
    assert caps.limits("gpt-4o", "asst_1") == [("assistant_id", "asst_1", 2), ("model", "gpt-4o", 5)]
    assert caps.limits("other", "asst_9") == [("model", "other", 10)]
    assert caps.limits("llama3:8b", "") == [("model", "llama3:8b", 1)]
    assert RunCaps.parse(" , ") is None
    assert ServerSettings().run_caps is None  # unset: no cap
    for bad in ("gpt-4o", "gpt-4o=0", "gpt-4o=two", "=3", "a=1,a=2", "*=1,*=2"):
        with pytest.raises(ValueError, match="model concurrency entry"):
            ServerSettings(model_concurrency=bad)


def test_serve_refuses_a_bad_cap_at_start_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["--model-concurrency", "gpt-4o=0"]) == 2  # before any database is opened
    error = capsys.readouterr().err
    assert error.startswith("threadloom serve: model_concurrency: model concurrency entry 'gpt-4o=0'")
