"""`threadloom chat`: a conversation at a prompt — each line is a turn, each reply is printed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid

from threadloom.starter.api import Threadloom
from threadloom.starter.errors import TurnError
from threadloom.starter.settings import Settings
from threadloom.starter.stream_render import render

QUIT = {"/quit", "/exit"}


async def chat_command(args: argparse.Namespace, settings: Settings) -> int:
    """Read lines from stdin until EOF or `/quit`; send each as a turn and print the reply."""
    conversation = args.conversation or f"chat-{uuid.uuid4().hex[:8]}"
    threadloom = await Threadloom.connect(settings)
    print(f"conversation {conversation} (/quit to leave)", flush=True)
    thread_id = args.thread
    if sys.stdin.isatty():
        # input() gains line editing and history once readline is imported (not on Windows).
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401
    while True:
        try:
            line = await asyncio.to_thread(input, "you> ")
        except EOFError:
            print()
            return 0
        text = line.strip()
        if not text:
            continue
        if text in QUIT:
            return 0
        message = text.replace("\\n", "\n")  # a typed `\n` starts a new line (e.g. for /tool lines)
        try:
            if getattr(args, "no_stream", False):
                result = await threadloom.send(
                    conversation,
                    message,
                    assistant_id=args.assistant,
                    thread_id=thread_id,
                    tools=args.tool,
                )
                print(f"assistant> {result.reply}", flush=True)
            else:  # the reply as it is written
                events = threadloom.stream_send(
                    conversation,
                    message,
                    assistant_id=args.assistant,
                    thread_id=thread_id,
                    tools=args.tool,
                )
                await render(events, out=sys.stdout, notes=sys.stdout, prefix="assistant> ")
        except TurnError as error:
            print(f"error> {error.type}: {error.message}", flush=True)
            continue
        thread_id = None  # only the first turn can choose the thread
