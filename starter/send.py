"""`threadloom send`: one durable turn from the command line (`--conversation`: a conversation's)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from starter.api import Threadloom, validate_request
from starter.errors import TurnError
from starter.settings import Settings
from threads_client import ThreadsClient, ThreadsError


async def send_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the turn and print the reply (or, with `--json`, the whole `TurnResult`).

    Exit codes: 0 reply printed, 1 the turn failed (the error type is printed), 2 bad input.
    """
    overrides = {"instructions": args.instructions, "model": args.model}
    if args.conversation:
        return await _send_to_conversation(args, settings, overrides)
    fields: dict[str, object] = {
        "thread_id": args.thread or "thread_new",
        "assistant_id": args.assistant,
        "message": {"text": args.text},
        "run": {name: value for name, value in overrides.items() if value is not None},
    }
    if args.turn_key:
        fields["turn_key"] = args.turn_key
    if args.tool:
        fields["tools"] = args.tool
    if args.deadline:
        fields["policy"] = {"run_deadline_seconds": args.deadline}
    try:
        request = validate_request(fields)  # before a new thread is created for it
        if not args.thread:
            request = request.model_copy(update={"thread_id": await _new_thread(settings)})
        threadloom = await Threadloom.connect(settings)
        result = await threadloom.run_turn(request)
    except TurnError as error:
        print(f"{error.type}: {error.message}", file=sys.stderr)
        return 2 if error.type == "InvalidRequest" else 1
    print(result.model_dump_json(indent=2) if args.json else result.reply)
    return 0


async def _send_to_conversation(
    args: argparse.Namespace, settings: Settings, overrides: dict[str, str | None]
) -> int:
    """`--conversation`: the turn goes to the conversation's workflow (update-with-start)."""
    options: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if args.deadline:
        options["policy"] = {"run_deadline_seconds": args.deadline}
    try:
        threadloom = await Threadloom.connect(settings)
        result = await threadloom.send(
            args.conversation,
            args.text,
            assistant_id=args.assistant,
            thread_id=args.thread,
            turn_key=args.turn_key,
            tools=args.tool,
            **options,
        )
    except TurnError as error:
        print(f"{error.type}: {error.message}", file=sys.stderr)
        return 2 if error.type == "InvalidRequest" else 1
    print(result.model_dump_json(indent=2) if args.json else result.reply)
    return 0


async def _new_thread(settings: Settings) -> str:
    api_key = settings.threads_api_key.get_secret_value() if settings.threads_api_key else None
    async with ThreadsClient(
        base_url=settings.threads_base_url,
        api_key=api_key,
        azure_api_version=settings.threads_azure_api_version,
    ) as client:
        try:
            thread = await client.threads.create()
        except ThreadsError as error:
            message = f"could not create a thread at {settings.threads_base_url}: {error}"
            raise SystemExit(message) from error
    print(f"new thread {thread.id}", file=sys.stderr)
    return thread.id
