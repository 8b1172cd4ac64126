"""`threadloom history WORKFLOW_ID [-o FILE]`: export a workflow's history as JSON.

The file has the shape `temporal workflow show --output json` writes (`{"events": [...]}` in the
protobuf JSON mapping), so `WorkflowHistory.from_json` and `threadloom replay FILE` load it, and the
Temporal CLI and UI tools read it too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from temporalio.client import Client, WorkflowHistory

from threadloom.starter.api import connect_client
from threadloom.starter.settings import Settings


async def fetch_history(client: Client, workflow_id: str, run_id: str | None = None) -> WorkflowHistory:
    """The history of one run of `workflow_id` (the latest run unless `run_id` is given)."""
    return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()


def history_json(history: WorkflowHistory) -> str:
    """The history as indented JSON, ending in a newline (stable, diff-friendly files)."""
    return json.dumps(history.to_json_dict(), indent=2, sort_keys=True) + "\n"


def write_history(path: Path, history: WorkflowHistory) -> None:
    """Write `history` to `path` as `history_json` formats it."""
    path.write_text(history_json(history), encoding="utf-8")


def load_history(path: Path, workflow_id: str | None = None) -> WorkflowHistory:
    """A history file written by `threadloom history` or `temporal workflow show --output json`.

    The JSON holds no workflow id, so the file name (without `.json`) stands in for it.
    """
    return WorkflowHistory.from_json(workflow_id or path.stem, path.read_text(encoding="utf-8"))


async def history_command(args: argparse.Namespace, settings: Settings) -> int:
    """Write the history of `args.workflow_id` to `args.output`, or to stdout."""
    client = await connect_client(settings)
    history = await fetch_history(client, args.workflow_id, args.run_id)
    if args.output:
        write_history(Path(args.output), history)
        print(f"{args.workflow_id}: {len(history.events)} events -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(history_json(history))
    return 0
