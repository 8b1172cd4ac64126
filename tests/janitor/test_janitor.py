"""Thread retention: a janitor pass deletes idle threads and nothing else; the schedule installs.

Real worker, Temporal dev server and threads server (the session's). Each test has its own task
queue, which scopes the janitor to the threads of its own workflows. The cutoff is fixed by giving
the pass an explicit `now`: threads used before the cutoff are old, the ones used after it are new,
with more than a second in between (the Threads API's timestamps are whole seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import wait_for_phase
from tests.engine.test_turns import turn
from threadloom.starter.api import Threadloom
from threadloom.starter.cli import build_parser
from threadloom.starter.conversations import close
from threadloom.starter.errors import TurnCancelled
from threadloom.starter.janitor import janitor_command, run_once
from threadloom.starter.settings import Settings
from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.threads_client import NotFoundError, ThreadsClient
from threadloom.workflows.contracts import RunOverrides
from threadloom.workflows.conversation_contracts import (
    STATUS_QUERY,
    ConversationLimits,
    ConversationStatus,
    conversation_workflow_id,
)
from threadloom.workflows.janitor_contracts import (
    PROGRESS_QUERY,
    JanitorInput,
    JanitorProgress,
    JanitorResult,
)

pytestmark = pytest.mark.usefixtures("engine_worker")
GAP = 1.2
"""Seconds between the last use of an old thread and the cutoff, and the cutoff and a new use."""


@pytest.fixture
def settings(temporal_env: WorkflowEnvironment, threads_server: Any, task_queue: str) -> Settings:
    return Settings(
        temporal_address=temporal_env.client.service_client.config.target_host,
        threads_base_url=threads_server.base_url,
        task_queue=task_queue,
    )


async def exists(threads: ThreadsClient, thread_id: str) -> bool:
    try:
        await threads.threads.retrieve(thread_id)
    except NotFoundError:
        return False
    return True


async def conversation_thread(loom: Threadloom, conversation_id: str) -> str:
    handle = loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))
    status: ConversationStatus = await handle.query(STATUS_QUERY, result_type=ConversationStatus)
    assert status.thread_id is not None
    return status.thread_id


async def test_a_pass_deletes_idle_threads_only_and_a_second_pass_nothing_more(
    loom: Threadloom,
    threads: ThreadsClient,
    assistant_id: str,
    task_queue: str,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def new_thread() -> str:
        return (await threads.threads.create()).id

    # Old: a direct turn, a closed conversation, a conversation still open (waiting for turns).
    direct = await new_thread()
    await loom.run_turn(turn(direct, assistant_id, "old and done"))
    closed_id, open_id = (f"jan-{uuid.uuid4().hex[:8]}" for _ in range(2))
    waiting = ConversationLimits(idle_timeout_seconds=600)
    for conversation_id in (closed_id, open_id):
        await loom.send(conversation_id, "old chat", assistant_id=assistant_id, limits=waiting)
    closed_thread = (await close(loom, closed_id, "done")).thread_id
    assert closed_thread is not None
    await loom.client.get_workflow_handle(conversation_workflow_id(closed_id)).result()
    open_thread = await conversation_thread(loom, open_id)
    # Busy: used long ago, and a turn on it now waits for a run that does not end.
    busy = await new_thread()
    await loom.run_turn(turn(busy, assistant_id, "old"))
    stalled = await loom.start_turn(
        turn(busy, assistant_id, "still going", run=RunOverrides(metadata={"fault": "stall"}))
    )
    await wait_for_phase(stalled, "waiting")
    # Used long ago and again lately.
    again = await new_thread()
    await loom.run_turn(turn(again, assistant_id, "old"))
    await asyncio.sleep(GAP)
    cutoff = datetime.now(UTC)
    await asyncio.sleep(GAP)
    # New: used after the cutoff only.
    recent = await new_thread()
    await loom.run_turn(turn(recent, assistant_id, "new"))
    await loom.run_turn(turn(again, assistant_id, "new"))
    old = [direct, closed_thread, open_thread]

    def pass_input(*, dry_run: bool) -> JanitorInput:
        retention = timedelta(hours=1)
        return JanitorInput(
            retention_seconds=retention.total_seconds(),
            task_queue=task_queue,
            now=cutoff + retention,
            dry_run=dry_run,
            batch_size=2,  # several pages, and threads named on more than one of them
        )

    try:
        # A dry run through the command line: it counts, and deletes nothing.
        now = (cutoff + timedelta(hours=1)).isoformat()
        argv = ["janitor", "--retention", "1h", "--once", "--dry-run", "--now", now]
        assert await janitor_command(build_parser().parse_args(argv), settings) == 0
        printed = capsys.readouterr().out
        assert "3 would be deleted" in printed and "1 busy" in printed, printed
        assert "1 recent" in printed, printed
        assert [await exists(threads, t) for t in [*old, busy, again, recent]] == [True] * 6

        first = await run_once(loom.client, pass_input(dry_run=False))
        assert [await exists(threads, t) for t in old] == [False, False, False]
        assert [await exists(threads, t) for t in (busy, again, recent)] == [True, True, True]
        counts = first.counts
        assert (counts.deleted, counts.busy, counts.recent, counts.failed) == (3, 1, 1, 0)
        assert first.counts.conversations_closed == 1
        # what the UI shows of the pass (its current details) and its `progress` query say the same
        query = f'WorkflowType = "JanitorWorkflow" AND TaskQueue = "{task_queue}"'
        passes = [e async for e in loom.client.list_workflows(query)]
        handle = loom.client.get_workflow_handle(max(passes, key=lambda e: e.start_time).id)
        shown = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert shown.current_details.startswith("done · idle since before"), shown.current_details
        assert "5 checked · 3 deleted · 0 already gone · 1 busy · 1 recent" in shown.current_details
        progress = await handle.query(PROGRESS_QUERY, result_type=JanitorProgress)
        assert progress.done and progress.counts == first.counts
        described = await loom.client.get_workflow_handle(conversation_workflow_id(open_id)).describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED

        second = await run_once(loom.client, pass_input(dry_run=False))
        counts = second.counts
        assert (counts.deleted, counts.busy, counts.recent, counts.failed) == (0, 1, 1, 0)
        # what it found again was gone already (the conversation the first pass closed, after the
        # cutoff, no longer names its thread to a pass with that cutoff)
        assert counts.gone == counts.checked - 2 >= 2, counts
        assert [await exists(threads, t) for t in (busy, again, recent)] == [True, True, True]

        # The conversation whose thread went on, on a new thread.
        reply = await loom.send(open_id, "still there?", assistant_id=assistant_id, limits=waiting)
        assert reply.reply == "Echo: still there?"
        assert await conversation_thread(loom, open_id) != open_thread
    finally:
        await stalled.cancel()
        with pytest.raises(TurnCancelled):
            await stalled.result()


async def run_cli(*argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode()


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["janitor", *argv])


async def test_the_schedule_installs_updates_shows_in_temporal_schedule_list_and_goes(
    settings: Settings, capsys: pytest.CaptureFixture[str], temporal_env: WorkflowEnvironment
) -> None:
    client = temporal_env.client
    schedule_id = f"janitor-{uuid.uuid4().hex[:8]}"
    options = ("--retention", "12h", "--every", "30m", "--schedule-id", schedule_id)
    address = ("--address", settings.temporal_address)
    temporal = find_temporal_binary()

    assert await janitor_command(parse(*options), settings) == 0
    created = capsys.readouterr().out
    assert f"schedule {schedule_id} created: every 30m, threads idle over 12h" in created, created
    assert await janitor_command(parse(*options, "--dry-run"), settings) == 0
    assert f"schedule {schedule_id} updated" in capsys.readouterr().out
    code, listed = await run_cli(temporal, "schedule", "list", *address, "-o", "json")
    assert code == 0, listed
    mine = [s for s in json.loads(listed) if s.get("scheduleId") == schedule_id]
    assert len(mine) == 1, listed
    code, shown = await run_cli(temporal, "schedule", "describe", "-s", schedule_id, *address)
    assert code == 0 and "JanitorWorkflow" in shown and "dry run" in shown, shown

    # A pass the schedule starts (triggered now rather than in 30 minutes) runs on the worker.
    code, out = await run_cli(temporal, "schedule", "trigger", "-s", schedule_id, *address)
    assert code == 0, out
    query = f'WorkflowType = "JanitorWorkflow" AND TaskQueue = "{settings.task_queue}"'
    for _ in range(100):
        started = [e async for e in client.list_workflows(query)]
        if started:
            break
        await asyncio.sleep(0.1)
    (scheduled,) = started
    assert scheduled.id.startswith(f"{schedule_id}-pass"), scheduled.id
    result = await client.get_workflow_handle(scheduled.id, result_type=JanitorResult).result()
    assert result.dry_run and result.counts.deleted == 0

    assert await janitor_command(parse("--remove", "--schedule-id", schedule_id), settings) == 0
    code, listed = await run_cli(temporal, "schedule", "list", *address, "-o", "json")
    assert code == 0 and schedule_id not in listed, listed


async def test_a_retention_the_namespace_does_not_keep_is_refused(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dev server keeps closed workflows for a day: 2 days of retention could never be seen."""
    schedule_id = f"janitor-{uuid.uuid4().hex[:8]}"
    assert await janitor_command(parse("--retention", "2d", "--schedule-id", schedule_id), settings) == 2
    error = capsys.readouterr().err
    assert "keeps closed workflows for 1d" in error and "temporal operator namespace" in error
    code, listed = await run_cli(
        find_temporal_binary(), "schedule", "list", "--address", settings.temporal_address
    )
    assert code == 0 and schedule_id not in listed, listed
    assert await janitor_command(parse(), settings) == 2
    assert "--retention is required" in capsys.readouterr().err
