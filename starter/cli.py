"""The `threadloom` command line.

    threadloom serve     the self-hosted Threads API server
    threadloom worker    a Temporal worker for threadloom's workflows and activities
    threadloom send      run one durable turn and print the reply (`--json`: the whole TurnResult)
    threadloom dev       the embedded stack in the foreground until Ctrl-C
    threadloom demo      the embedded stack, a few conversations end to end, then exit

Settings come from `THREADLOOM_*` environment variables (see `starter.settings.Settings`); flags given
here win over them. Each command's implementation is imported only when it runs, so `threadloom serve`
does not load Temporal and `threadloom send` does not load the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from starter.settings import Settings


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temporal-address", help="Temporal frontend host:port")
    parser.add_argument("--namespace", help="Temporal namespace")
    parser.add_argument("--task-queue", help="task queue of the threadloom workers")
    parser.add_argument("--threads-base-url", help="Threads API base URL, e.g. http://host:8700/v1")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name)
        for name in ("temporal_address", "namespace", "task_queue", "threads_base_url")
        if getattr(args, name, None) is not None
    }
    return Settings(**overrides)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadloom", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("serve", help="run the self-hosted Threads API server", add_help=False)

    worker = commands.add_parser("worker", help="run a worker")
    _add_connection_flags(worker)

    send = commands.add_parser("send", help="run one durable turn and print the reply")
    _add_connection_flags(send)
    send.add_argument("text", help="the user message")
    send.add_argument("--assistant", required=True, help="assistant id (asst_…)")
    send.add_argument("--thread", help="thread id; a new thread is created when omitted")
    send.add_argument("--turn-key", help="idempotency key: the same key never runs a second turn")
    send.add_argument("--instructions", help="override the assistant's instructions for this run")
    send.add_argument("--model", help="override the assistant's model for this run")
    send.add_argument("--deadline", type=float, help="run deadline in seconds")
    send.add_argument("--json", action="store_true", help="print the whole TurnResult as JSON")

    dev = commands.add_parser("dev", help="run the embedded stack until Ctrl-C")
    _add_connection_flags(dev)

    demo = commands.add_parser("demo", help="run the demo conversations on the embedded stack")
    _add_connection_flags(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `threadloom` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from threads_server.cli import serve_main

        return serve_main(argv[1:])
    args = _build_parser().parse_args(argv)
    from starter.logging_setup import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "worker":
        from worker import run_worker

        await run_worker(settings)
        return 0
    if args.command == "send":
        from starter.send import send_command

        return await send_command(args, settings)
    if args.command == "dev":
        from starter.demo import dev_command

        return await dev_command(settings)
    if args.command == "demo":
        from starter.demo import demo_command

        return await demo_command(settings)
    raise AssertionError(args.command)


if __name__ == "__main__":
    raise SystemExit(main())
