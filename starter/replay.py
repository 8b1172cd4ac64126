"""`threadloom replay`: replay recorded or live histories against the current workflow code.

Replay runs the workflow code again over a finished (or running) history and checks that it issues the
same commands in the same order. A change that would break running workflows fails here, before it is
deployed: the command prints one line per history and exits 1 if any history fails, naming the history
and the reason. Files, workflow ids and list queries can be mixed in one call.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer, WorkflowRunner

from threadloom.starter.encryption import data_converter as settings_converter
from threadloom.starter.encryption import encrypted_converter
from threadloom.starter.history import fetch_history, load_history
from threadloom.starter.settings import Settings


@dataclass(frozen=True)
class ReplayOutcome:
    """How one history replayed: `error` is None when the code reproduced it."""

    name: str
    workflow_type: str
    events: int
    error: BaseException | None

    @property
    def ok(self) -> bool:
        """True if the history replayed without a failure."""
        return self.error is None

    def line(self) -> str:
        """The line `threadloom replay` prints for this history."""
        head = f"{self.name} ({self.workflow_type}, {self.events} events)"
        if self.error is None:
            return f"ok    {head}"
        return f"FAIL  {head}: {type(self.error).__name__}: {reason(self.error)}"


def reason(error: BaseException) -> str:
    """The error's message; for a core failure only its `message: "…"` part, not the whole struct."""
    text = str(error)
    found = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    return found.group(1) if found else text


def build_replayer(
    workflows: Sequence[type] | None = None,
    runner: WorkflowRunner | None = None,
    *,
    data_converter: DataConverter | None = None,
) -> Replayer:
    """A replayer with the worker's workflows, sandbox and data converter (unless told otherwise).

    `data_converter`: the one `starter.encryption.data_converter` builds from the settings, so
    encrypted histories replay with the key ring (default: encryption off; plain histories replay).
    """
    from threadloom.worker import WORKFLOWS, sandbox_runner

    return Replayer(
        workflows=list(workflows or WORKFLOWS),
        workflow_runner=runner or sandbox_runner(),
        data_converter=data_converter or encrypted_converter(None),
    )


def workflow_type(history: WorkflowHistory) -> str:
    """The workflow type name a history was started with."""
    first = history.events[0] if history.events else None
    if first is None or not first.HasField("workflow_execution_started_event_attributes"):
        return "?"
    return first.workflow_execution_started_event_attributes.workflow_type.name


async def replay_one(replayer: Replayer, name: str, history: WorkflowHistory) -> ReplayOutcome:
    """Replay one history; failures are returned, never raised."""
    kind = workflow_type(history)
    try:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        error = result.replay_failure
    except Exception as err:  # an unknown workflow type, a broken history, ...
        error = err
    return ReplayOutcome(name, kind, len(history.events), error)


async def live_histories(
    client: Client, workflow_ids: Sequence[str], query: str | None, limit: int | None
) -> AsyncIterator[tuple[str, WorkflowHistory]]:
    """Histories from the cluster: each id's latest run, then every run the list query matches."""
    for workflow_id in workflow_ids:
        yield workflow_id, await fetch_history(client, workflow_id)
    if query is not None:
        async for execution in client.list_workflows(query, limit=limit):
            history = await fetch_history(client, execution.id, execution.run_id)
            yield f"{execution.id} (run {execution.run_id})", history


async def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    """Replay the files, ids and query of `args`; exit 1 if any history fails, 2 if none was given."""
    if not (args.files or args.workflow_id or args.query):
        print("nothing to replay: give history files, --workflow-id or --query")
        return 2
    replayer = build_replayer(data_converter=settings_converter(settings))
    outcomes = [await replay_one(replayer, str(path), load_history(Path(path))) for path in args.files]
    if args.workflow_id or args.query:
        from threadloom.starter.api import connect_client

        client = await connect_client(settings)
        async for name, history in live_histories(client, args.workflow_id, args.query, args.limit):
            outcomes.append(await replay_one(replayer, name, history))
    for outcome in outcomes:
        print(outcome.line())
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} histories replayed; {len(failed)} failed")
    return 1 if failed else 0
