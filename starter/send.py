"""`threadloom send`: one durable turn from the command line (`--conversation`: a conversation's)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

from threadloom.starter.api import Threadloom, validate_request
from threadloom.starter.errors import TurnError
from threadloom.starter.settings import Settings
from threadloom.starter.stream_events import TurnEvent
from threadloom.starter.stream_render import json_lines, render
from threadloom.starter.threads_api import create_thread, require_assistant, threads_client
from threadloom.workflows.contracts import TurnResult
from threadloom.workflows.conversation_contracts import (
    STATUS_QUERY,
    ConversationStatus,
    conversation_workflow_id,
)


async def send_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the turn and print the reply (or, with `--json`, the thread id and the whole `TurnResult`).

    The request and the assistant are checked first: a send that fails either writes nothing (no new
    thread, no message). Exit codes: 0 reply printed, 1 the turn failed (the error type is printed),
    2 bad input.
    """
    streams = getattr(args, "stream", False)
    try:
        if args.conversation:
            thread_id, result = await _send_to_conversation(args, settings)
        else:
            thread_id, result = await _send_turn(args, settings)
    except TurnError as error:
        if streams:
            print(file=sys.stderr)
        print(f"{error.type}: {error.message}", file=sys.stderr)
        return 2 if error.type == "InvalidRequest" else 1
    if streams:
        return 0  # printed as it streamed
    if args.json:
        print(json.dumps({"thread_id": thread_id, **result.model_dump(mode="json")}, indent=2))
    else:
        print(result.reply)
    return 0


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = {"instructions": args.instructions, "model": args.model}
    return {name: value for name, value in overrides.items() if value is not None}


async def _send_turn(args: argparse.Namespace, settings: Settings) -> tuple[str, TurnResult]:
    fields: dict[str, object] = {
        "thread_id": args.thread or "thread_new",  # stands in until the thread exists
        "assistant_id": args.assistant,
        "message": {"text": args.text},
        "run": _run_overrides(args),
    }
    if args.turn_key:
        fields["turn_key"] = args.turn_key
    if args.tool:
        fields["tools"] = args.tool
    if args.deadline:
        fields["policy"] = {"run_deadline_seconds": args.deadline}
    request = validate_request(fields)
    async with threads_client(settings) as client:
        await require_assistant(client, args.assistant)
        if not args.thread:
            thread_id = await create_thread(client)
            print(f"new thread {thread_id}", file=sys.stderr)
            request = request.model_copy(update={"thread_id": thread_id})
    threadloom = await Threadloom.connect(settings)
    if getattr(args, "stream", False):
        return request.thread_id, await _shown(args, threadloom.stream_turn(request))
    return request.thread_id, await threadloom.run_turn(request)


async def _shown(args: argparse.Namespace, events: AsyncIterator[TurnEvent]) -> TurnResult:
    """`--stream`: the reply as it is written (`--json`: one JSON event per line)."""
    if args.json:
        return await json_lines(events, out=sys.stdout)
    return await render(events, out=sys.stdout, notes=sys.stderr)


async def _send_to_conversation(
    args: argparse.Namespace, settings: Settings
) -> tuple[str | None, TurnResult]:
    """`--conversation`: the turn goes to the conversation's workflow (update-with-start)."""
    options = _run_overrides(args)
    if args.deadline:
        options["policy"] = {"run_deadline_seconds": args.deadline}
    async with threads_client(settings) as client:
        await require_assistant(client, args.assistant)
    threadloom = await Threadloom.connect(settings)
    turn: dict[str, Any] = {
        "assistant_id": args.assistant,
        "thread_id": args.thread,
        "turn_key": args.turn_key,
        "tools": args.tool,
        **options,
    }
    if getattr(args, "stream", False):
        events = threadloom.stream_send(args.conversation, args.text, **turn)
        result = await _shown(args, events)
    else:
        result = await threadloom.send(args.conversation, args.text, **turn)
    # The conversation owns its thread; its status query names it.
    handle = threadloom.client.get_workflow_handle(conversation_workflow_id(args.conversation))
    status = await handle.query(STATUS_QUERY, result_type=ConversationStatus)
    return status.thread_id, result
