"""Vector stores: create, retrieve, modify, delete, list; `file_counts`, `status` and `usage_bytes`
are read off the store's files at every read, so they move as ingestion runs, on any replica.

`expires_after` (`last_active_at` + days) sets `expires_at`; a store is `expired` once that passes.
A search of the store counts as activity (`touch`), and moves `expires_at` on.
"""

from __future__ import annotations

import time
from typing import Any

from threadloom.threads_server.errors import APIError, not_found
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage.chunks import delete_chunks
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.rows import ListQuery, insert, list_page, load, save

DAY = 86_400
STATUSES = ("in_progress", "completed", "failed", "cancelled")


def file_counts(conn: Conn, where: str, params: tuple[Any, ...]) -> tuple[dict[str, int], int]:
    """`file_counts` of the store files matching `where`, and their `usage_bytes`."""
    counts = dict.fromkeys(STATUSES, 0)
    usage = 0
    rows = conn.execute(
        f"SELECT status, COUNT(*), SUM(usage_bytes) FROM vector_store_files WHERE {where}"
        " GROUP BY status",
        params,
    ).fetchall()
    for status, count, used in rows:
        counts[str(status)] = int(count)
        usage += int(used or 0)
    return {**counts, "total": sum(counts.values())}, usage


def is_expired(store: dict[str, Any]) -> bool:
    """Whether the store's `expires_at` has passed."""
    expires_at = store.get("expires_at")
    return expires_at is not None and expires_at <= time.time()


def render(conn: Conn, store: dict[str, Any]) -> dict[str, Any]:
    """The stored store with its live `file_counts`, `usage_bytes` and `status`."""
    counts, usage = file_counts(conn, "vector_store_id = ?", (store["id"],))
    if is_expired(store):
        status = "expired"
    else:
        status = "in_progress" if counts["in_progress"] else "completed"
    return {**store, "usage_bytes": usage, "file_counts": counts, "status": status}


def _expiry(store: dict[str, Any]) -> None:
    after = store.get("expires_after")
    store["expires_at"] = store["last_active_at"] + after["days"] * DAY if after else None


def new_store(fields: dict[str, Any]) -> dict[str, Any]:
    """A store object from create fields (`name`, `metadata`, `expires_after`)."""
    created = now()
    store: dict[str, Any] = {
        "id": new_id("vs"),
        "object": "vector_store",
        "created_at": created,
        "name": fields.get("name") or "",
        "metadata": fields.get("metadata") or {},
        "last_active_at": created,
    }
    if fields.get("expires_after"):
        store["expires_after"] = fields["expires_after"]
    _expiry(store)
    return store


def insert_store(conn: Conn, store: dict[str, Any]) -> None:
    """Store a new vector store object."""
    insert(conn, "vector_stores", store)


def find_store(conn: Conn, vector_store_id: str) -> dict[str, Any] | None:
    """The stored store (not rendered), or None."""
    return load(conn, "vector_stores", vector_store_id)


def get_store_row(conn: Conn, vector_store_id: str) -> dict[str, Any]:
    """The stored store (not rendered), or 404."""
    store = find_store(conn, vector_store_id)
    if store is None:
        raise not_found("vector store", vector_store_id)
    return store


def get_store(conn: Conn, vector_store_id: str) -> dict[str, Any]:
    """The store as the API shows it, or 404."""
    return render(conn, get_store_row(conn, vector_store_id))


def modify_store(conn: Conn, vector_store_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Change `name`, `metadata`, `expires_after` (null removes the expiry)."""
    conn.lock(f"vector store {vector_store_id}")
    store = get_store_row(conn, vector_store_id)
    if is_expired(store):
        raise APIError(f"Vector store '{vector_store_id}' has expired.", param="vector_store_id")
    if "name" in fields:
        store["name"] = fields["name"] or ""
    if "metadata" in fields:
        store["metadata"] = fields["metadata"] or {}
    if "expires_after" in fields:
        store.pop("expires_after", None)
        if fields["expires_after"]:
            store["expires_after"] = fields["expires_after"]
        store["last_active_at"] = now()
        _expiry(store)
    save(conn, "vector_stores", store)
    return render(conn, store)


def touch(conn: Conn, vector_store_id: str) -> None:
    """Record activity on a store: `last_active_at` now, `expires_at` moved on."""
    store = find_store(conn, vector_store_id)
    if store is None or is_expired(store) or store["last_active_at"] == now():
        return
    store["last_active_at"] = now()
    _expiry(store)
    save(conn, "vector_stores", store)


def delete_store(conn: Conn, vector_store_id: str) -> dict[str, Any]:
    """Delete the store, its file rows, batches and chunks (the files themselves stay)."""
    conn.lock(f"vector store {vector_store_id}")
    get_store_row(conn, vector_store_id)
    delete_chunks(conn, vector_store_id, None)
    for table in ("vector_store_files", "vector_store_file_batches"):
        conn.execute(f"DELETE FROM {table} WHERE vector_store_id = ?", (vector_store_id,))
    conn.execute("DELETE FROM vector_stores WHERE id = ?", (vector_store_id,))
    return {"id": vector_store_id, "object": "vector_store.deleted", "deleted": True}


def list_stores(conn: Conn, query: ListQuery) -> dict[str, Any]:
    """One page of stores."""
    page = list_page(conn, "vector_stores", query)
    page["data"] = [render(conn, store) for store in page["data"]]
    return page


def missing_stores(conn: Conn, ids: list[str]) -> list[str]:
    """The ids among `ids` with no store (in the order given)."""
    return [i for i in dict.fromkeys(ids) if find_store(conn, i) is None]
