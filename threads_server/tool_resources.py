"""The file ids and vector stores that requests name: checked, built by helpers, and attached to threads.

```
check(db, fields)                 every route that takes tools, tool_resources or attachments, before
                                  anything is written: code_interpreter → 400; unknown file or
                                  vector store ids → 400 (nothing stored)
build_stores(db, fields, thread=) create requests: the `file_search.vector_stores` helper becomes a
                                  new store (its id in `vector_store_ids`); for a new thread, files
                                  attached with `file_search` go into the thread's store
attach_to_thread(db, thread, msgs) messages added to an existing thread (create message, a run's
                                  `additional_messages`): their `file_search` attachments go into the
                                  thread's store, created on the first one
```

Stores made for threads (by the helper or by attachments) expire 7 days after they were last active,
as OpenAI's File Search guide says of them (FILES-BEHAVIOUR.md). `code_interpreter` is not provided by
this server: declaring it (a tool, its tool resources, an attachment's tool) is a 400 with
`code: "unsupported_tool"`, so a client learns it at once instead of from a run that ignores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from threadloom.threads_server import retrieval
from threadloom.threads_server.errors import APIError
from threadloom.threads_server.storage import Conn, Database
from threadloom.threads_server.storage.rows import load, lock_thread, save

THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}
CODE_INTERPRETER = (
    "The code_interpreter tool is not provided by this server (threadloom runs no code); "
    "use function tools or file_search instead."
)
Refs = list[tuple[str, str]]  # (param, id)


def _unsupported(param: str) -> APIError:
    return APIError(f"Invalid '{param}': {CODE_INTERPRETER}", param=param, code="unsupported_tool")


def _messages(fields: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("messages", "additional_messages"):
        for index, message in enumerate(fields.get(key) or []):
            yield f"{prefix}{key}[{index}]", message
    if prefix == "" and "attachments" in fields:
        yield "", fields  # the body of create message is itself a message


def _walk(fields: dict[str, Any], prefix: str, files: Refs, stores: Refs) -> None:
    for index, tool in enumerate(fields.get("tools") or []):
        if tool.get("type") == "code_interpreter":
            raise _unsupported(f"{prefix}tools[{index}]")
    resources = fields.get("tool_resources") or {}
    if (resources.get("code_interpreter") or {}).get("file_ids"):
        raise _unsupported(f"{prefix}tool_resources.code_interpreter")
    search = resources.get("file_search") or {}
    where = f"{prefix}tool_resources.file_search"
    stores += [
        (f"{where}.vector_store_ids[{i}]", s) for i, s in enumerate(search.get("vector_store_ids") or [])
    ]
    for h, helper in enumerate(search.get("vector_stores") or []):
        ids = helper.get("file_ids") or []
        files += [(f"{where}.vector_stores[{h}].file_ids[{i}]", f) for i, f in enumerate(ids)]
    for at, message in _messages(fields, prefix):
        for index, attachment in enumerate(message.get("attachments") or []):
            param = f"{at}.attachments[{index}]" if at else f"attachments[{index}]"
            if any(tool["type"] == "code_interpreter" for tool in attachment["tools"]):
                raise _unsupported(f"{param}.tools")
            files.append((f"{param}.file_id", attachment["file_id"]))
    if isinstance(fields.get("thread"), dict):
        _walk(fields["thread"], f"{prefix}thread.", files, stores)


async def check(db: Database, fields: dict[str, Any]) -> None:
    """400 for `code_interpreter` anywhere in `fields`, or for a file or vector store id that does not
    exist (the first one, named by its parameter). Reads only: call it before any write."""
    files: Refs = []
    stores: Refs = []
    _walk(fields, "", files, stores)
    if files:
        missing = set(await retrieval.missing_files(db, sorted({f for _, f in files})))
        for param, file_id in files:
            if file_id in missing:
                raise APIError(f"Invalid '{param}': no file found with id '{file_id}'.", param=param)
    if stores:
        missing = set(await retrieval.missing_vector_stores(db, sorted({s for _, s in stores})))
        for param, store_id in stores:
            if store_id in missing:
                message = f"Invalid '{param}': no vector store found with id '{store_id}'."
                raise APIError(message, param=param)


def searched_files(messages: list[dict[str, Any]]) -> list[str]:
    """The ids of files attached with the `file_search` tool, in order, each once."""
    found: dict[str, None] = {}
    for message in messages:
        for attachment in message.get("attachments") or []:
            if any(tool["type"] == "file_search" for tool in attachment["tools"]):
                found[attachment["file_id"]] = None
    return list(found)


async def build_stores(db: Database, fields: dict[str, Any], *, thread: bool) -> dict[str, Any]:
    """`fields` (of a create request, already `check`ed) with the `vector_stores` helper made a store.

    With `thread`, the files its messages attach with `file_search` join that store: the one the
    helper made, the one `vector_store_ids` names, or a new one.
    """
    resources = dict(fields.get("tool_resources") or {})
    search = dict(resources.get("file_search") or {})
    helpers = search.pop("vector_stores", None) or []
    attached = searched_files(fields.get("messages") or []) if thread else []
    expiry = THREAD_STORE_EXPIRY if thread else None
    if helpers:
        helper = helpers[0]
        made: dict[str, Any] = {
            "file_ids": list(dict.fromkeys([*(helper.get("file_ids") or []), *attached])),
            "metadata": helper.get("metadata"),
        }
        if expiry is not None:
            made["expires_after"] = expiry
        created = await retrieval.create_store_object(db, made, helper.get("chunking_strategy"))
        search["vector_store_ids"] = [created["id"]]
    elif attached and search.get("vector_store_ids"):
        await retrieval.add_files(db, search["vector_store_ids"][0], attached)
    elif attached:
        store = await retrieval.create_vector_store(db, file_ids=attached, expires_after=expiry)
        search["vector_store_ids"] = [store]
    elif "vector_stores" not in (resources.get("file_search") or {}):
        return fields
    resources["file_search"] = search
    return {**fields, "tool_resources": resources}


def thread_store(conn: Conn, thread_id: str) -> str | None:
    """The id of the thread's vector store, if it has one (None also for a deleted thread)."""
    thread = load(conn, "threads", thread_id)
    ids = (((thread or {}).get("tool_resources") or {}).get("file_search") or {}).get("vector_store_ids")
    return str(ids[0]) if ids else None


def set_thread_store(conn: Conn, thread_id: str, store_id: str) -> str | None:
    """Make `store_id` the thread's store unless it has one already; the store it has now."""
    lock_thread(conn, thread_id)
    thread = load(conn, "threads", thread_id)
    if thread is None:
        return None
    resources = thread.get("tool_resources") or {}
    current = (resources.get("file_search") or {}).get("vector_store_ids")
    if current:
        return str(current[0])
    resources["file_search"] = {**(resources.get("file_search") or {}), "vector_store_ids": [store_id]}
    thread["tool_resources"] = resources
    save(conn, "threads", thread)
    return store_id


async def attach_to_thread(db: Database, thread_id: str, messages: list[dict[str, Any]]) -> None:
    """Put the files `messages` attach with `file_search` into the thread's store (made if none)."""
    attached = searched_files(messages)
    if not attached:
        return
    store = await db.run(thread_store, thread_id)
    if store is not None:
        await retrieval.add_files(db, store, attached)
        return
    made = await retrieval.create_vector_store(db, file_ids=attached, expires_after=THREAD_STORE_EXPIRY)
    current = await db.run(set_thread_store, thread_id, made)
    if current is not None and current != made:
        # Another request gave the thread a store first; that one gets the files (the store made
        # here stays empty of the thread and expires with the thread-store expiry).
        await retrieval.add_files(db, current, attached)
