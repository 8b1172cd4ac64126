"""`threadloom serve` / `python -m threadloom.threads_server`: run the Threads API server.

Before serving, the database is opened and migrated once here, so that an unreachable database,
refused credentials or a schema from a newer release stop the command with one line on stderr and
exit status 1 (not a traceback from inside uvicorn's lifespan). `--migrate-only` stops after that step,
for deploy pipelines that migrate before rolling out replicas.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import SecretStr, ValidationError

from threadloom.threads_server.app import create_app
from threadloom.threads_server.serving import build_server
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import StartupError, open_database


def build_parser() -> argparse.ArgumentParser:
    """The `serve` arguments; unset ones fall back to `THREADLOOM_SERVER_*` settings."""
    parser = argparse.ArgumentParser(
        prog="threadloom serve", description="Run the self-hosted Threads API server."
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8700)")
    parser.add_argument(
        "--db",
        help="SQLite file (default .threadloom/threads.db) or postgresql://user:password@host:port/db",
    )
    parser.add_argument(
        "--migrate-only",
        action="store_true",
        help="apply the database's schema migrations, then exit (no server)",
    )
    parser.add_argument("--api-key", help="require this key (Authorization: Bearer …)")
    parser.add_argument(
        "--responder", choices=["auto", "echo", "chat_completions"], help="default: auto"
    )
    parser.add_argument("--faults", action="store_true", help="enable fault injection")
    parser.add_argument(
        "--model-concurrency",
        metavar="CAPS",
        help="cap concurrent runs: `gpt-4o=5,assistant:asst_…=2,*=10` (past it runs stay queued)",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback --host without an API key (anyone who reaches it can use it)",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """Settings from the environment, overridden by the given arguments."""
    overrides: dict[str, object] = {}
    for name, field in (
        ("host", "host"),
        ("port", "port"),
        ("db", "database_url"),
        ("responder", "responder"),
        ("model_concurrency", "model_concurrency"),
    ):
        value = getattr(args, name)
        if value is not None:
            overrides[field] = value
    if "database_url" in overrides:
        overrides["database_url"] = SecretStr(str(overrides["database_url"]))
    if args.api_key is not None:
        overrides["api_key"] = SecretStr(args.api_key)
    if args.faults:
        overrides["faults_enabled"] = True
    if args.insecure_no_auth:
        overrides["insecure_no_auth"] = True
    return ServerSettings(**overrides)  # type: ignore[arg-type]


def settings_error(exc: ValidationError) -> str:
    """The first problem of invalid server settings, as one line (no pydantic banner)."""
    first = exc.errors()[0]
    message = str(first.get("msg", exc)).removeprefix("Value error, ")
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {message}" if where else message


async def migrate(settings: ServerSettings) -> None:
    """Open the database (connect, apply missing migrations under the migration lock), close it."""
    db = open_database(settings.database, pool_size=1)
    try:
        await db.open()
    finally:
        await db.close()


def serve_main(argv: list[str] | None = None) -> int:
    """Parse `argv`, serve until interrupted; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        print(f"threadloom serve: {settings_error(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(migrate(settings))
    except StartupError as exc:
        print(f"threadloom serve: {exc}", file=sys.stderr)
        return 1
    where = settings.database.display
    if args.migrate_only:
        print(f"database {where} is at the current schema")
        return 0
    server = build_server(create_app(settings), settings.host, settings.port)
    print(f"threads server on http://{settings.host}:{settings.port}/v1 (db {where})")
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        return 130
    return 0
