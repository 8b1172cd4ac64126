"""Row helpers shared by the `storage_*` modules: objects are stored as their JSON wire form.

Each table has an autoincrement `seq` that gives the list order (timestamps have one-second resolution,
so they cannot), an `id`, a few indexed columns, and `body`, the object exactly as the API returns it,
written by the same strict encoder as the answers (`wire_json`): a value no answer could carry fails
the write, inside its transaction, instead of every later read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from threadloom.threads_server.errors import APIError
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.wire_json import decode_stored, encode_text

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class ListQuery:
    """`limit` (1 to 100), `order`, and the `after` / `before` cursors of a list request."""

    limit: int = 20
    order: Order = "desc"
    after: str | None = None
    before: str | None = None


def lock_thread(conn: Conn, thread_id: str) -> None:
    """Serialize this transaction with every other one that writes to the thread (its messages, runs,
    steps): the check-then-write rules of one thread hold with many writers, and rows of a thread's
    lists are committed in `seq` order, so a list cursor never skips a row committed late."""
    conn.lock(f"thread {thread_id}")


def load(conn: Conn, table: str, object_id: str) -> dict[str, Any] | None:
    """The stored object with this id, or None."""
    row = conn.execute(f"SELECT body FROM {table} WHERE id = ?", (object_id,)).fetchone()
    return decode_stored(row[0]) if row else None


def insert(conn: Conn, table: str, obj: dict[str, Any], **columns: Any) -> None:
    """Insert `obj` (its `id` and `body`) with extra indexed `columns`."""
    names = ["id", "body", *columns]
    values = [obj["id"], encode_text(obj), *columns.values()]
    marks = ", ".join("?" for _ in names)
    conn.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", values)


def save(conn: Conn, table: str, obj: dict[str, Any], **columns: Any) -> None:
    """Overwrite the stored body of `obj` (and the given indexed `columns`)."""
    sets = ", ".join(f"{name} = ?" for name in ["body", *columns])
    values = [encode_text(obj), *columns.values(), obj["id"]]
    conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", values)


def _cursor_seq(
    conn: Conn, table: str, where: str, params: tuple[Any, ...], cursor: str, name: str
) -> int:
    row = conn.execute(f"SELECT seq FROM {table} WHERE {where} AND id = ?", (*params, cursor)).fetchone()
    if row is None:
        raise APIError(f"Invalid '{name}': no object with id '{cursor}' in this list.", param=name)
    return int(row[0])


def list_page(
    conn: Conn,
    table: str,
    query: ListQuery,
    where: str = "1 = 1",
    params: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """One page of a list, `{"object": "list", "data", "first_id", "last_id", "has_more"}`."""
    ascending = query.order == "asc"
    clauses, args = [where], list(params)
    if query.after:
        clauses.append("seq > ?" if ascending else "seq < ?")
        args.append(_cursor_seq(conn, table, where, params, query.after, "after"))
    if query.before:
        clauses.append("seq < ?" if ascending else "seq > ?")
        args.append(_cursor_seq(conn, table, where, params, query.before, "before"))
    # With only `before`, the page is the items nearest the cursor: walk backwards, then flip.
    backwards = bool(query.before) and not query.after
    direction = "ASC" if ascending != backwards else "DESC"
    rows = conn.execute(
        f"SELECT body FROM {table} WHERE {' AND '.join(clauses)} ORDER BY seq {direction} LIMIT ?",
        (*args, query.limit + 1),
    ).fetchall()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if backwards:
        rows.reverse()
    data = [decode_stored(row[0]) for row in rows]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
