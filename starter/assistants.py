"""`threadloom assistants create|list|show|delete`: the assistants turns name, without curl.

`--tool NAME` adds a tool to the assistant: `code_interpreter`, `file_search`, or a function of the
tool registries the worker serves (`THREADLOOM_TOOLS`; by default the demo's, as `threadloom dev`
serves), whose definition comes from the registry. Exit codes: 0 done, 1 not found or unreachable,
2 refused by the server (threadloom's server answers `code_interpreter` with a 400: it runs no code).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from threadloom.starter.settings import Settings
from threadloom.starter.threads_api import threads_client
from threadloom.threads_client import Assistant, FunctionTool
from threadloom.threads_client.errors import BadRequestError, NotFoundError, ThreadsError

BUILT_IN_TOOLS = ("code_interpreter", "file_search")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `assistants` subcommands and their flags."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create an assistant; prints its id alone")
    create.add_argument("--model", default="echo", help="model name (default: echo, offline)")
    create.add_argument("--name", help="display name")
    create.add_argument("--instructions", help="system instructions of its runs")
    create.add_argument(
        "--tool",
        action="append",
        default=[],
        metavar="NAME",
        help="code_interpreter, file_search or a function the worker serves (repeatable)",
    )
    create.add_argument("--json", action="store_true", help="print the whole assistant as JSON")
    listing = actions.add_parser("list", help="list assistants, newest first")
    listing.add_argument("--json", action="store_true", help="print them as a JSON array")
    show = actions.add_parser("show", help="print one assistant as JSON")
    show.add_argument("assistant_id", metavar="ASSISTANT_ID")
    delete = actions.add_parser("delete", help="delete an assistant")
    delete.add_argument("assistant_id", metavar="ASSISTANT_ID")


def tool_definitions(names: list[str], settings: Settings) -> list[dict[str, Any]]:
    """Tool definitions for `names`: built-in types as they are, functions from the registries."""
    from threadloom.activities.tools import load_registries
    from threadloom.starter.devstack import DEMO_TOOLS

    functions = [name for name in names if name not in BUILT_IN_TOOLS]
    registry = load_registries(settings.tools or DEMO_TOOLS) if functions else None
    definitions: list[dict[str, Any]] = []
    for name in names:
        if name in BUILT_IN_TOOLS:
            definitions.append({"type": name})
        elif registry is not None and registry.get(name) is not None:
            definitions += registry.definitions([name])
        else:
            known = ", ".join([*BUILT_IN_TOOLS, *(registry.names() if registry else [])])
            raise SystemExit(f"unknown tool {name!r}; known: {known}")
    return definitions


def describe(assistant: Assistant) -> str:
    """One line: id, model, name and tool names."""
    tools = [
        tool.function.name if isinstance(tool, FunctionTool) else tool.type for tool in assistant.tools
    ]
    parts = [assistant.id, f"model {assistant.model}"]
    if assistant.name:
        parts.append(f"name {assistant.name!r}")
    if tools:
        parts.append("tools " + ", ".join(tools))
    return "  ".join(parts)


def _as_json(assistant: Assistant) -> dict[str, Any]:
    return assistant.model_dump(mode="json", exclude_none=True)


async def assistants_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `assistants` action against the Threads API the settings name."""
    async with threads_client(settings) as client:
        try:
            if args.action == "create":
                created = await client.assistants.create(
                    model=args.model,
                    name=args.name,
                    instructions=args.instructions,
                    tools=tool_definitions(args.tool, settings) or None,
                )
                # The id alone, so that `ASSISTANT_ID=$(threadloom assistants create)` works.
                print(json.dumps(_as_json(created), indent=2) if args.json else created.id)
                print(f"created {describe(created)}", file=sys.stderr)
            elif args.action == "list":
                found = [assistant async for assistant in client.assistants.list()]
                if args.json:
                    print(json.dumps([_as_json(assistant) for assistant in found], indent=2))
                for assistant in [] if args.json else found:
                    print(describe(assistant))
            elif args.action == "show":
                shown = await client.assistants.retrieve(args.assistant_id)
                print(json.dumps(_as_json(shown), indent=2))
            else:
                await client.assistants.delete(args.assistant_id)
                print(f"deleted {args.assistant_id}")
        except BadRequestError as error:  # e.g. code_interpreter, which threadloom's server lacks
            print(f"InvalidRequest: {error.message}", file=sys.stderr)
            return 2
        except NotFoundError:
            print(f"AssistantNotFound: no assistant {args.assistant_id}", file=sys.stderr)
            return 1
        except ThreadsError as error:
            print(f"ThreadsUnavailable: {settings.threads_base_url}: {error}", file=sys.stderr)
            return 1
    return 0
