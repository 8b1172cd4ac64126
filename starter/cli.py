"""The `threadloom` command line.

    threadloom serve     the self-hosted Threads API server
    threadloom worker    a Temporal worker for threadloom's workflows and activities
    threadloom send      run one durable turn and print the reply (`--json`: the whole TurnResult)
    threadloom chat      keep a conversation going at a prompt (`/quit` ends it)
    threadloom assistants  create, list, show or delete the assistants turns name
    threadloom schema    the JSON Schema of the inputs and outputs, for other languages
    threadloom dev       the embedded stack in the foreground until Ctrl-C
    threadloom demo      the embedded stack, a few conversations end to end, then exit
    threadloom bench     turns side by side with the seed's loop and the openai SDK, on a private stack
    threadloom history   write a workflow's history as JSON (`temporal workflow show` format)
    threadloom replay    replay history files or live workflows against the current code
    threadloom janitor   install the schedule that deletes idle threads (or run one pass)
    threadloom codec-server  decrypt payloads for the Temporal UI and CLI (`--new-key ID`: a new key)
    threadloom files     upload, list or delete files (for file_search)
    threadloom vector-stores  create, list, add files to, search or delete vector stores
    threadloom web       the chat page: conversations in a browser, replies streamed as they are written

Settings come from `THREADLOOM_*` environment variables (see `starter.settings.Settings`); flags given
here win over them. Each command names its implementation as `"module:function"` and the module is
imported only when that command runs, so `threadloom serve` does not load Temporal.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from threadloom.starter.settings import Settings

STARTER = "threadloom.starter"
"""Where the commands live; each is imported only when it runs."""

Subparsers = Any  # argparse's _SubParsersAction is private
QUIET_COMMANDS = {
    "demo",
    "send",
    "chat",
    "schema",
    "assistants",
    "files",
    "vector-stores",
}  # their own output is the point; logs only for warnings


CHAT_KEYS = """\
Each line you type is one turn. At a terminal the line can be edited (arrow keys, Home/End, Ctrl-R
history search: GNU readline). A message of several lines is typed on one: `\\n` starts a new line,
which is how a `/tool` line goes with the text for the offline echo model, e.g.

  you> What is the weather in Lisbon?\\n/tool get_weather {"city": "Lisbon"}

/quit, /exit or Ctrl-D ends the chat."""


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temporal-address", help="Temporal frontend host:port")
    parser.add_argument("--namespace", help="Temporal namespace")
    parser.add_argument("--task-queue", help="task queue of the threadloom workers")
    parser.add_argument("--threads-base-url", help="Threads API base URL, e.g. http://host:8700/v1")


def _command(commands: Subparsers, name: str, handler: str, help: str) -> argparse.ArgumentParser:
    """Add a subcommand run by `handler` ("module:function", called as `await f(args, settings)`)."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=help)
    _add_connection_flags(parser)
    parser.set_defaults(handler=handler)
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _add_turn_commands(commands: Subparsers) -> None:
    worker = _command(commands, "worker", f"{STARTER}.cli:worker_command", "run a worker")
    worker.add_argument(
        "--task-queue-activities-per-second",
        type=_positive,
        help="Temporal's rate limit of activity starts on the whole task queue "
        "(THREADLOOM_TASK_QUEUE_ACTIVITIES_PER_SECOND; default: unlimited)",
    )
    worker.add_argument(
        "--worker-tuner",
        choices=("fixed", "resource"),
        help="admit tasks up to fixed bounds, or by the host's CPU and memory "
        "(THREADLOOM_WORKER_TUNER; default: fixed)",
    )
    send = _command(commands, "send", f"{STARTER}.send:send_command", "run one durable turn")
    send.add_argument("text", help="the user message")
    send.add_argument("--assistant", required=True, help="assistant id (asst_…)")
    send.add_argument("--thread", help="thread id; a new thread is created when omitted")
    send.add_argument(
        "--conversation", help="send as a turn of this conversation (one at a time, on its thread)"
    )
    send.add_argument(
        "--tool", action="append", default=[], help="a tool registered in the worker (repeatable)"
    )
    send.add_argument("--turn-key", help="idempotency key: the same key never runs a second turn")
    send.add_argument("--instructions", help="override the assistant's instructions for this run")
    send.add_argument("--model", help="override the assistant's model for this run")
    send.add_argument("--deadline", type=float, help="run deadline in seconds")
    send.add_argument("--json", action="store_true", help="print the whole TurnResult as JSON")
    send.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="upload PATH and attach it with file_search (repeatable)",
    )
    send.add_argument(  # streaming turns (issue 15)
        "--stream",
        action="store_true",
        help="print the reply as it is written (with --json: one JSON event per line)",
    )
    for name, handler, help in (
        ("dev", f"{STARTER}.demo:dev_command", "run the embedded stack until Ctrl-C"),
        ("demo", f"{STARTER}.demo:demo_command", "run the demo on the embedded stack"),
    ):
        stack = _command(commands, name, handler, help)
        stack.add_argument("--ui-port", type=int, help="Temporal UI port of the dev server (8233)")


def _add_conversation_commands(commands: Subparsers) -> None:
    """Conversations and tools (issue 5) register their commands here."""
    chat = _command(commands, "chat", f"{STARTER}.chat:chat_command", "chat with an assistant")
    chat.formatter_class = argparse.RawDescriptionHelpFormatter
    chat.epilog = CHAT_KEYS
    chat.add_argument("--assistant", required=True, help="assistant id (asst_…)")
    chat.add_argument("--conversation", help="conversation id (default: a new one)")
    chat.add_argument("--thread", help="thread id of a new conversation (default: a new thread)")
    chat.add_argument("--tool", action="append", default=[], help="a registered tool (repeatable)")
    chat.add_argument(  # streaming turns (issue 15)
        "--no-stream", action="store_true", help="print each reply once it is complete"
    )
    from threadloom.starter.assistants import add_arguments as add_assistant_arguments

    add_assistant_arguments(
        _command(
            commands,
            "assistants",
            f"{STARTER}.assistants:assistants_command",
            "create, list, show or delete assistants",
        )
    )
    schema = _command(
        commands, "schema", f"{STARTER}.schema:schema_command", "print the JSON Schema of the contracts"
    )
    schema.add_argument("name", nargs="?", help="one model (TurnRequest, TurnResult, SendTurn, …)")


def _add_inspection_commands(commands: Subparsers) -> None:
    """Inspection and replay (issue 6) register their commands here."""
    history = _command(
        commands, "history", f"{STARTER}.history:history_command", "write a workflow's history as JSON"
    )
    history.add_argument("workflow_id", metavar="WORKFLOW_ID", help="e.g. turn-thread_…-KEY")
    history.add_argument("--run-id", help="a run other than the latest (after continue-as-new)")
    history.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    history.add_argument(
        "--decode", action="store_true", help="write payloads decrypted with the key ring (for reading)"
    )
    replay = _command(
        commands,
        "replay",
        f"{STARTER}.replay:replay_command",
        "replay histories against the current workflow code",
    )
    replay.add_argument("files", nargs="*", metavar="FILE", help="history JSON files")
    replay.add_argument(
        "--workflow-id", action="append", default=[], metavar="ID", help="a live workflow (repeatable)"
    )
    replay.add_argument("--query", metavar="LIST_QUERY", help="""e.g. 'WorkflowType="TurnWorkflow"'""")
    replay.add_argument("--limit", type=int, help="at most N workflows from --query")


def _add_retention_commands(commands: Subparsers) -> None:
    """Thread retention (issue 17) registers its command here."""
    from threadloom.starter.janitor_options import add_arguments

    help = "install the schedule that deletes idle threads (or run one pass)"
    add_arguments(_command(commands, "janitor", f"{STARTER}.janitor:janitor_command", help))


def _add_encryption_commands(commands: Subparsers) -> None:
    """Payload encryption (issue 17) registers its commands here."""
    codec = _command(
        commands,
        "codec-server",
        f"{STARTER}.codec_server:codec_server_command",
        "serve Temporal's codec protocol over the key ring, for the Temporal UI and CLI",
    )
    codec.add_argument("--host", help="address to bind (THREADLOOM_CODEC_HOST, 127.0.0.1)")
    codec.add_argument("--port", type=int, help="port (THREADLOOM_CODEC_PORT, 8234)")
    codec.add_argument("--new-key", metavar="ID", help="print a new key ring entry `ID:base64` and exit")


def _add_benchmark_commands(commands: Subparsers) -> None:
    """Benchmarks (issue 7) register their commands here."""
    from threadloom.benchmarks.options import add_arguments

    bench = _command(
        commands,
        "bench",
        "threadloom.benchmarks.command:bench_command",
        "benchmark turns on a private stack",
    )
    add_arguments(bench)


def _add_file_commands(commands: Subparsers) -> None:
    """Files and vector stores (issue 16) register their commands here."""
    from threadloom.starter import files_cli

    files_cli.add_files_arguments(
        _command(commands, "files", f"{STARTER}.files_cli:files_command", "upload, list, delete files")
    )
    files_cli.add_vector_store_arguments(
        _command(
            commands,
            "vector-stores",
            f"{STARTER}.files_cli:vector_stores_command",
            "create, list, add to, search or delete vector stores",
        )
    )


def _add_web_commands(commands: Subparsers) -> None:
    """The chat page (issue 15) registers its command here."""
    help = "serve the chat page (a browser front end to conversations, streamed)"
    web = _command(commands, "web", f"{STARTER}.web.server:web_command", help)
    web.add_argument("--host", help="address to bind (THREADLOOM_WEB_HOST, 127.0.0.1)")
    web.add_argument("--port", type=int, help="port (THREADLOOM_WEB_PORT, 8701)")
    web.add_argument(
        "--ui-url",
        help="the Temporal UI to link turns to (THREADLOOM_WEB_UI_URL, http://localhost:8233)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command but `serve`, which the threads server parses itself."""
    parser = argparse.ArgumentParser(prog="threadloom", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="run the self-hosted Threads API server", add_help=False)
    _add_turn_commands(commands)
    _add_conversation_commands(commands)
    _add_inspection_commands(commands)
    _add_retention_commands(commands)
    _add_encryption_commands(commands)
    _add_benchmark_commands(commands)
    _add_file_commands(commands)
    _add_web_commands(commands)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the connection flags of `args` on top."""
    flags = ["temporal_address", "namespace", "task_queue", "threads_base_url", "ui_port"]
    flags += ["task_queue_activities_per_second", "worker_tuner"]
    overrides = {name: getattr(args, name) for name in flags if getattr(args, name, None)}
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `threadloom` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from threadloom.threads_server.cli import serve_main

        return serve_main(argv[1:])
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    from threadloom.starter.logging_setup import configure_logging

    level = settings.log_level
    if args.command in QUIET_COMMANDS and "THREADLOOM_LOG_LEVEL" not in os.environ:
        level = "WARNING"
    configure_logging(settings.log_format, level)
    module_name, _, function_name = args.handler.partition(":")
    handler: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]] = getattr(
        importlib.import_module(module_name), function_name
    )
    from threadloom.starter.devstack import DevStackError
    from threadloom.starter.encryption import EncryptionKeyError

    try:
        code = asyncio.run(handler(args, settings))
    except KeyboardInterrupt:
        code = 130
    except (DevStackError, EncryptionKeyError) as error:  # the message says what to do
        print(f"threadloom {args.command}: {error}", file=sys.stderr)
        code = 1
    # The Temporal SDK's threads can abort interpreter teardown (see worker.exit_without_teardown).
    from threadloom.worker import exit_without_teardown

    exit_without_teardown(code)


async def worker_command(args: argparse.Namespace, settings: Settings) -> int:
    """`threadloom worker`: run until SIGINT/SIGTERM."""
    from threadloom.worker import ToolsNotLoaded, run_worker

    try:
        await run_worker(settings)
    except ToolsNotLoaded as error:
        print(f"threadloom worker: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
