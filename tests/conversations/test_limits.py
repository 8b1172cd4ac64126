"""A conversation's run limits, end to end: continue-as-new on history length (ours and Temporal's
suggestion) and the cap on updates per run (`MAX_UPDATES_PER_RUN`), without losing or repeating a turn.

Real worker, real Temporal dev server, real threads server over HTTP (echo assistant); what is asserted
is what a user sees: every reply, the thread's messages and runs, their order, the summary, and in
the workflow's histories that each turn was accepted once, by one run, and started one turn workflow.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.engine.observe import thread_state
from threadloom import worker, workflows
from threadloom.starter.api import Threadloom
from threadloom.starter.conversations import close
from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import SEARCH_ATTRIBUTES, TurnResult
from threadloom.workflows.conversation_contracts import (
    MAX_UPDATES_PER_RUN,
    ConversationLimits,
    ConversationSummary,
    conversation_workflow_id,
)

SUGGEST_AFTER_EVENTS = 60
"""`limit.historyCount.suggestContinueAsNew` of the dev server that suggests continue-as-new early."""


@dataclass(frozen=True)
class RunHistory:
    """One run of a conversation workflow, from its history."""

    run_id: str
    status: WorkflowExecutionStatus | None
    events: list[HistoryEvent]

    @property
    def accepted(self) -> list[str]:
        """Update ids (= turn keys) of the `send_turn` updates this run accepted, in order."""
        return [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            for e in self.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
            and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            == "send_turn"
        ]

    @property
    def turn_workflows(self) -> list[str]:
        """Ids of the turn workflows this run started."""
        return [
            e.start_child_workflow_execution_initiated_event_attributes.workflow_id
            for e in self.events
            if e.HasField("start_child_workflow_execution_initiated_event_attributes")
        ]

    @property
    def continued_as_new(self) -> bool:
        return self.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW

    @property
    def suggested_continue_as_new(self) -> bool:
        """Whether Temporal told one of this run's workflow tasks to continue as new."""
        return any(
            e.workflow_task_started_event_attributes.suggest_continue_as_new
            for e in self.events
            if e.HasField("workflow_task_started_event_attributes")
        )


async def runs_of(loom: Threadloom, conversation_id: str) -> list[RunHistory]:
    """Every run of the conversation's workflow, oldest first."""
    workflow_id = conversation_workflow_id(conversation_id)
    executions = [e async for e in loom.client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    executions.sort(key=lambda e: e.start_time)
    runs = []
    for execution in executions:
        handle = loom.client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        runs.append(
            RunHistory(
                execution.run_id, execution.status, [e async for e in handle.fetch_history_events()]
            )
        )
    return runs


Sender = Callable[[str, str], Awaitable[TurnResult]]
"""Sends one turn (text, turn key) of the conversation under test."""


async def drive(send: Sender, senders: int, turns_each: int) -> dict[str, tuple[str, TurnResult]]:
    """`senders` concurrent callers, each sending `turns_each` turns one after another.

    Returns every turn's (text, result) by turn key.
    """

    async def sender(number: int) -> list[tuple[str, str, TurnResult]]:
        done = []
        for turn in range(turns_each):
            key, text = f"s{number}-t{turn}", f"sender {number}, turn {turn}"
            done.append((key, text, await send(text, key)))
        return done

    batches = await asyncio.gather(*(sender(n) for n in range(senders)))
    return {key: (text, result) for batch in batches for key, text, result in batch}


async def assert_every_turn_once_in_order(
    loom: Threadloom,
    threads: ThreadsClient,
    conversation_id: str,
    thread_id: str,
    turns: dict[str, tuple[str, TurnResult]],
) -> list[RunHistory]:
    """What a user sees after the turns, and that no turn was lost or repeated across runs."""
    count = len(turns)
    for text, result in turns.values():
        assert result.reply == f"Echo: {text}"
        assert result.status == "completed"
    # Per sender, its turns ran in the order it sent them (each waited for the one before).
    for _, group in itertools.groupby(sorted(turns), key=lambda key: key.split("-")[0]):
        in_sent_order = sorted(group, key=lambda key: int(key.rsplit("-t", 1)[1]))
        started = [turns[key][1].timings.started_at for key in in_sent_order]
        assert started == sorted(started)
    # The thread: one user message and one reply per turn, alternating (no turn overlapped another),
    # one completed run per turn, the user messages in the order the turns ran.
    state = await thread_state(threads, thread_id)
    assert [m.role for m in state.messages] == ["user", "assistant"] * count
    assert state.statuses == ["completed"] * count
    by_start = sorted(turns.values(), key=lambda pair: pair[1].timings.started_at)
    assert [m.id for m in state.user_messages] == [r.user_message_id for _, r in by_start]
    assert [r.id for r in state.runs] == [r.run_id for _, r in by_start]
    # The workflow: every turn accepted exactly once (by one run), one turn workflow per turn.
    runs = await runs_of(loom, conversation_id)
    accepted = Counter(key for run in runs for key in run.accepted)
    assert accepted == Counter(turns.keys()), "a turn was lost or accepted twice"
    turn_workflows = [workflow_id for run in runs for workflow_id in run.turn_workflows]
    assert len(turn_workflows) == len(set(turn_workflows)) == count
    assert all(run.continued_as_new for run in runs[:-1])
    assert runs[-1].status == WorkflowExecutionStatus.RUNNING
    # Closing ends the last run; its summary counts the turns of every run.
    status = await close(loom, conversation_id, "test over")
    assert (status.thread_id, status.turns_completed, status.queued) == (thread_id, count, 0)
    handle = loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))
    summary = ConversationSummary.model_validate(await handle.result())
    assert (summary.ended, summary.turns_completed, summary.thread_id) == ("closed", count, thread_id)
    return runs


def new_conversation() -> str:
    return f"limits-{uuid.uuid4().hex[:10]}"


def sender_for(
    loom: Threadloom, conversation_id: str, assistant_id: str, thread_id: str, limits: ConversationLimits
) -> Sender:
    async def send(text: str, key: str) -> TurnResult:
        return await loom.send(
            conversation_id,
            text,
            assistant_id=assistant_id,
            thread_id=thread_id,
            turn_key=key,
            limits=limits,
        )

    return send


@pytest.mark.usefixtures("engine_worker")
async def test_history_length_limit_continues_as_new_between_turns(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    """`max_history_events` (its minimum, 100) continues the run as new; no turn lost or repeated."""
    cid = new_conversation()
    limits = ConversationLimits(max_turns_per_run=1_500, max_history_events=100)
    turns = await drive(sender_for(loom, cid, assistant_id, thread_id, limits), senders=1, turns_each=16)

    runs = await assert_every_turn_once_in_order(loom, threads, cid, thread_id, turns)
    assert len(runs) >= 3, [len(r.events) for r in runs]
    for run in runs[:-1]:
        # Due once the history reached 100 events; it went on only to finish the turn in progress.
        assert 100 <= len(run.events) < 100 + 20, len(run.events)
        assert 0 < len(run.accepted) < 1_500
        assert not run.suggested_continue_as_new  # our limit did it, not Temporal's suggestion


TURN_EVENTS = 12
"""History events one turn of a conversation adds (child start and end, update, workflow tasks)."""
SEND_BOUND_SECONDS = 20.0
"""Longest a send may take in the lock-up tests: a stuck run would keep `send` resending for 15 min."""


async def drive_with_pauses(
    send: Sender, turns: int, pause: float = 0.6
) -> dict[str, tuple[str, TurnResult]]:
    """One caller sending `turns` turns, pausing after each: the turn that crosses a limit is then the
    last before a quiet spell, so only the run's main loop (not a next turn) can notice it is due."""
    done = {}
    for turn in range(turns):
        key, text = f"s0-t{turn}", f"sender 0, turn {turn}"
        try:
            done[key] = (text, await asyncio.wait_for(send(text, key), SEND_BOUND_SECONDS))
        except TimeoutError:
            raise AssertionError(f"turn {turn} got no answer in {SEND_BOUND_SECONDS:g}s") from None
        await asyncio.sleep(pause)
    return done


async def assert_answered_again(send: Sender, turns: dict[str, tuple[str, TurnResult]]) -> None:
    """The first turn, sent again after the conversation closed: a new run that never saw it answers
    from the turn's workflow, with the same result."""
    key, (text, result) = next(iter(turns.items()))
    assert await asyncio.wait_for(send(text, key), SEND_BOUND_SECONDS) == result


@pytest.mark.usefixtures("engine_worker")
async def test_a_history_limit_crossed_before_a_pause_continues_as_new(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str
) -> None:
    """The history limit crossed by the last turn before a pause: the next send is answered within
    seconds (it used to get `ConversationRestarting` for 15 minutes) and the run continued as new.

    Whether the line is crossed between a turn's last workflow task and the next turn's first
    depends on where the limit falls within a turn's events, so conversations with every limit from
    100 to 100 + TURN_EVENTS run side by side: one of them crosses it exactly there."""

    async def conversation(max_history_events: int) -> list[RunHistory]:
        thread_id = (await threads.threads.create()).id
        cid = new_conversation()
        limits = ConversationLimits(max_turns_per_run=1_500, max_history_events=max_history_events)
        send = sender_for(loom, cid, assistant_id, thread_id, limits)
        turns = await drive_with_pauses(send, turns=11)
        runs = await assert_every_turn_once_in_order(loom, threads, cid, thread_id, turns)
        await assert_answered_again(send, turns)
        return runs

    every = await asyncio.gather(*(conversation(100 + n) for n in range(TURN_EVENTS)))
    assert all(len(runs) >= 2 for runs in every), [[len(r.events) for r in runs] for runs in every]


@pytest.fixture(scope="module")
async def suggesting_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of its own that suggests continue-as-new after `SUGGEST_AFTER_EVENTS` events."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal_binary(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def test_temporal_suggestion_continues_as_new(
    suggesting_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    thread_id: str,
    task_queue: str,
) -> None:
    """`is_continue_as_new_suggested()` alone continues the run as new (our limits are at their max)."""
    loom = Threadloom(suggesting_env.client, task_queue=task_queue)
    cid = new_conversation()
    limits = ConversationLimits(max_turns_per_run=1_500, max_history_events=40_000)
    async with build_worker(suggesting_env.client, threads, task_queue=task_queue):
        send = sender_for(loom, cid, assistant_id, thread_id, limits)
        turns = await drive(send, senders=1, turns_each=12)
        runs = await assert_every_turn_once_in_order(loom, threads, cid, thread_id, turns)
    assert len(runs) >= 3, [len(r.events) for r in runs]
    for run in runs[:-1]:
        assert run.suggested_continue_as_new
        assert SUGGEST_AFTER_EVENTS <= len(run.events) < SUGGEST_AFTER_EVENTS + 20, len(run.events)


async def test_a_suggestion_that_arrives_before_a_pause_continues_as_new(
    suggesting_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    thread_id: str,
    task_queue: str,
) -> None:
    """Temporal's suggestion arriving with the last turn before a pause: no lock-up either."""
    loom = Threadloom(suggesting_env.client, task_queue=task_queue)
    cid = new_conversation()
    limits = ConversationLimits(max_turns_per_run=1_500, max_history_events=40_000)
    async with build_worker(suggesting_env.client, threads, task_queue=task_queue):
        send = sender_for(loom, cid, assistant_id, thread_id, limits)
        turns = await drive_with_pauses(send, turns=10)
        runs = await assert_every_turn_once_in_order(loom, threads, cid, thread_id, turns)
        await assert_answered_again(send, turns)
    assert len(runs) >= 2, [len(r.events) for r in runs]
    assert all(run.suggested_continue_as_new for run in runs[:-1])


def test_a_run_is_always_due_before_its_update_cap() -> None:
    """`MAX_UPDATES_PER_RUN` turns a run's new turns away; only a due run continues as new, so the
    largest `max_turns_per_run` must stay below the cap, or a run at its cap would turn every new turn
    away and never continue as new."""
    largest = ConversationLimits.model_json_schema()["properties"]["max_turns_per_run"]["maximum"]
    assert largest < MAX_UPDATES_PER_RUN


async def test_update_cap_turns_new_turns_to_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
    loom: Threadloom,
    threads: ThreadsClient,
    assistant_id: str,
    thread_id: str,
    task_queue: str,
    temporal_env: WorkflowEnvironment,
) -> None:
    """With the cap lowered to 4 (1,800 real turns take minutes), ten concurrent turns: each run
    accepts at most 4, turns the others away (`ConversationRestarting`, retried by `send`), continues as
    new once they are done; every turn runs exactly once."""
    cap = 4
    # The constant is read from the contracts module at run time; that module is passed through the
    # sandbox, so the worker's workflows see the patched value (the same module object).
    assert "threadloom.workflows.conversation_contracts" in worker.PASSTHROUGH_MODULES
    monkeypatch.setattr(workflows.conversation_contracts, "MAX_UPDATES_PER_RUN", cap)
    cid = new_conversation()
    limits = ConversationLimits(max_turns_per_run=2)  # below the cap, as 1,500 is below 1,800
    async with build_worker(temporal_env.client, threads, task_queue=task_queue):
        send = sender_for(loom, cid, assistant_id, thread_id, limits)
        turns = await drive(send, senders=10, turns_each=1)
        runs = await assert_every_turn_once_in_order(loom, threads, cid, thread_id, turns)
    accepted = [len(run.accepted) for run in runs]
    assert len(runs) >= 3, accepted  # ten turns, at most four a run
    assert all(count <= cap for count in accepted), accepted
    # All ten arrived while the first run was on its first turn: the cap, not the turn limit (2), bit.
    assert accepted[0] == cap, accepted


@pytest.mark.usefixtures("engine_worker")
async def test_turn_limit_holds_while_turns_keep_arriving(
    loom: Threadloom, threads: ThreadsClient, assistant_id: str, thread_id: str
) -> None:
    """Two callers sending one turn after another: each run should take about `max_turns_per_run`."""
    cid = new_conversation()
    limits = ConversationLimits(max_turns_per_run=3)
    turns = await drive(sender_for(loom, cid, assistant_id, thread_id, limits), senders=2, turns_each=6)
    runs = await assert_every_turn_once_in_order(loom, threads, cid, thread_id, turns)
    # A run becomes due after 3 turns; at most one more (the other caller's) may already be queued.
    assert all(len(run.accepted) <= 3 + 1 for run in runs), [len(r.accepted) for r in runs]
