"""`threadloom files …` and `threadloom vector-stores …`, and the uploads of `threadloom send --file`.

    threadloom files upload PATH…              upload (purpose `assistants`); prints each file id
    threadloom files list | delete FILE_ID
    threadloom vector-stores create [--name N] [--file FILE_ID]… [--wait]     prints the store id
    threadloom vector-stores list | delete VS_ID
    threadloom vector-stores add VS_ID FILE_ID… [--wait]
    threadloom vector-stores search VS_ID QUERY [--max-results N]

Exit codes: 0 done; 1 not found, unreachable, or files that failed to ingest (`--wait`); 2 bad input
(a path that is not a readable file, or a request the server refused with 400, whose message is
printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from threadloom.starter.settings import Settings
from threadloom.starter.threads_api import threads_client
from threadloom.threads_client import ThreadsClient, VectorStore
from threadloom.threads_client.errors import BadRequestError, NotFoundError, ThreadsError

WAIT_SECONDS = 120.0


class BadInput(Exception):
    """Input refused before anything was sent (exit 2)."""


def add_files_arguments(parser: argparse.ArgumentParser) -> None:
    """`threadloom files` actions."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upload = actions.add_parser("upload", help="upload files; prints one file id per line")
    upload.add_argument("paths", nargs="+", metavar="PATH")
    upload.add_argument("--purpose", default="assistants", help="file purpose (default assistants)")
    upload.add_argument("--json", action="store_true", help="print the file objects as JSON")
    listing = actions.add_parser("list", help="list files, newest first")
    listing.add_argument("--json", action="store_true", help="print them as a JSON array")
    delete = actions.add_parser("delete", help="delete a file (it leaves every vector store)")
    delete.add_argument("file_id", metavar="FILE_ID")


def add_vector_store_arguments(parser: argparse.ArgumentParser) -> None:
    """`threadloom vector-stores` actions."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a store; prints its id")
    create.add_argument("--name", help="display name")
    create.add_argument("--file", action="append", default=[], metavar="FILE_ID", help="repeatable")
    create.add_argument("--wait", action="store_true", help="wait until its files are ingested")
    create.add_argument("--json", action="store_true", help="print the store as JSON")
    listing = actions.add_parser("list", help="list stores, newest first")
    listing.add_argument("--json", action="store_true", help="print them as a JSON array")
    add = actions.add_parser("add", help="add files to a store")
    add.add_argument("vector_store_id", metavar="VS_ID")
    add.add_argument("file_ids", nargs="+", metavar="FILE_ID")
    add.add_argument("--wait", action="store_true", help="wait until the files are ingested")
    search = actions.add_parser("search", help="search a store; prints score, file and passage")
    search.add_argument("vector_store_id", metavar="VS_ID")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--max-results", type=int, help="1 to 50 (default: the server's, 10)")
    search.add_argument("--json", action="store_true", help="print the result page as JSON")
    delete = actions.add_parser("delete", help="delete a store (its files stay)")
    delete.add_argument("vector_store_id", metavar="VS_ID")


def readable(path_text: str) -> Path:
    """The path, if it names a readable regular file; BadInput otherwise."""
    path = Path(path_text)
    if not path.is_file():
        raise BadInput(f"{path_text}: not a file")
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise BadInput(f"{path_text}: {error.strerror}") from error
    return path


async def upload(client: ThreadsClient, paths: list[str], purpose: str = "assistants") -> list[Any]:
    """Upload each path (all checked first, so a bad one uploads nothing); the file objects."""
    checked = [readable(path) for path in paths]
    return [await client.files.create(path, purpose=purpose) for path in checked]


async def wait_ready(client: ThreadsClient, store_id: str, seconds: float = WAIT_SECONDS) -> VectorStore:
    """Poll the store until none of its files is in progress (or `seconds` pass)."""
    deadline = time.monotonic() + seconds
    pause = 0.05
    while True:
        store = await client.vector_stores.retrieve(store_id)
        if store.file_counts.in_progress == 0 or time.monotonic() > deadline:
            return store
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


def _dump(obj: Any) -> Any:
    return obj.model_dump(mode="json", exclude_none=True)


def _store_line(store: VectorStore) -> str:
    counts = store.file_counts
    name = f"  name {store.name!r}" if store.name else ""
    return f"{store.id}  {store.status}  files {counts.completed}/{counts.total}{name}"


async def _files(args: argparse.Namespace, client: ThreadsClient) -> int:
    if args.action == "upload":
        uploaded = await upload(client, args.paths, args.purpose)
        if args.json:
            print(json.dumps([_dump(item) for item in uploaded], indent=2))
        for item in [] if args.json else uploaded:
            print(item.id)
            print(f"uploaded {item.filename} ({item.bytes} bytes) as {item.id}", file=sys.stderr)
    elif args.action == "list":
        found = [item async for item in client.files.list()]
        if args.json:
            print(json.dumps([_dump(item) for item in found], indent=2))
        for item in [] if args.json else found:
            print(f"{item.id}  {item.bytes} bytes  {item.purpose}  {item.filename}")
    else:
        await client.files.delete(args.file_id)
        print(f"deleted {args.file_id}")
    return 0


async def _stores(args: argparse.Namespace, client: ThreadsClient) -> int:
    if args.action == "create":
        store = await client.vector_stores.create(name=args.name, file_ids=args.file or None)
        if args.wait:
            store = await wait_ready(client, store.id)
        print(json.dumps(_dump(store), indent=2) if args.json else store.id)
        print(f"created {_store_line(store)}", file=sys.stderr)
        return 1 if store.file_counts.failed else 0
    if args.action == "list":
        found = [store async for store in client.vector_stores.list()]
        if args.json:
            print(json.dumps([_dump(store) for store in found], indent=2))
        for store in [] if args.json else found:
            print(_store_line(store))
        return 0
    if args.action == "add":
        for file_id in args.file_ids:
            await client.vector_stores.files.create(args.vector_store_id, file_id)
        store = await client.vector_stores.retrieve(args.vector_store_id)
        if args.wait:
            store = await wait_ready(client, store.id)
        print(_store_line(store))
        return 1 if args.wait and store.file_counts.failed else 0
    if args.action == "search":
        page = await client.vector_stores.search(
            args.vector_store_id, args.query, max_num_results=args.max_results
        )
        if args.json:
            print(json.dumps(_dump(page), indent=2))
        for result in [] if args.json else page.data:
            passage = " ".join(result.text.split())
            print(f"{result.score:.3f}  {result.filename} ({result.file_id})  {passage[:200]}")
        return 0
    await client.vector_stores.delete(args.vector_store_id)
    print(f"deleted {args.vector_store_id}")
    return 0


async def _guarded(args: argparse.Namespace, settings: Settings, action: Any) -> int:
    try:
        async with threads_client(settings) as client:
            code: int = await action(args, client)
            return code
    except BadInput as error:
        print(f"InvalidRequest: {error}", file=sys.stderr)
        return 2
    except BadRequestError as error:
        print(f"InvalidRequest: {error.message}", file=sys.stderr)
        return 2
    except NotFoundError as error:
        print(f"NotFound: {error.message}", file=sys.stderr)
        return 1
    except ThreadsError as error:
        print(f"ThreadsUnavailable: {settings.threads_base_url}: {error}", file=sys.stderr)
        return 1


async def files_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `files` action against the Threads API the settings name."""
    return await _guarded(args, settings, _files)


async def vector_stores_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `vector-stores` action against the Threads API the settings name."""
    return await _guarded(args, settings, _stores)
