"""The files of vector stores and file batches, and the claim ingestion takes on a file.

A `vector_store_files` row is one file in one store: `status` (`in_progress` until ingested), the
wire object in `body`, and the lease (`lease_owner`, `lease_expires_at`) of the replica ingesting it.
Any replica claims an `in_progress` row nobody holds a live lease on (`claim`); chunks are written
in parts (`write_chunks`, short transactions: SQLite's one writer is never held for long) and the
file marked `completed` (`finish`) only while the claim is still held, so a file removed,
re-attached or cancelled meanwhile is not overwritten, and a replica that died leaves its claim to
lapse and be taken again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from threadloom.threads_server.errors import APIError, not_found
from threadloom.threads_server.ids import new_id, now
from threadloom.threads_server.storage.chunks import delete_chunks, insert_chunks
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.files import require_files
from threadloom.threads_server.storage.rows import ListQuery, list_page, load
from threadloom.threads_server.storage.vector_stores import file_counts, get_store_row, is_expired
from threadloom.threads_server.wire_json import decode_stored, encode_text

FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


@dataclass(frozen=True)
class Claim:
    """A store file this replica is ingesting: what to chunk, and how."""

    vector_store_id: str
    file_id: str
    chunking: dict[str, int]


def _store_open(conn: Conn, vector_store_id: str) -> dict[str, Any]:
    store = get_store_row(conn, vector_store_id)
    if is_expired(store):
        raise APIError(f"Vector store '{vector_store_id}' has expired.", param="vector_store_id")
    return store


def attach(
    conn: Conn,
    vector_store_id: str,
    file_id: str,
    chunking: dict[str, int],
    attributes: dict[str, Any] | None,
    batch_id: str | None = None,
) -> dict[str, Any]:
    """Put a file in a store, `in_progress` (again, if it was there: its chunks are dropped)."""
    body: dict[str, Any] = {
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": 0,
        "created_at": now(),
        "vector_store_id": vector_store_id,
        "status": "in_progress",
        "last_error": None,
        "chunking_strategy": {"type": "static", "static": dict(chunking)},
        "attributes": attributes or {},
    }
    delete_chunks(conn, vector_store_id, file_id)
    conn.execute(
        "INSERT INTO vector_store_files (id, vector_store_id, batch_id, status, usage_bytes, body)"
        " VALUES (?, ?, ?, 'in_progress', 0, ?) ON CONFLICT (vector_store_id, id) DO UPDATE SET"
        " batch_id = excluded.batch_id, status = 'in_progress', usage_bytes = 0,"
        " body = excluded.body, lease_owner = NULL, lease_expires_at = NULL",
        (file_id, vector_store_id, batch_id, encode_text(body)),
    )
    return body


def attach_files(
    conn: Conn,
    vector_store_id: str,
    files: Sequence[tuple[str, dict[str, int], dict[str, Any] | None]],
    batch_id: str | None = None,
) -> list[dict[str, Any]]:
    """Check the store and the files, then attach each `(file_id, chunking, attributes)`."""
    conn.lock(f"vector store {vector_store_id}")
    _store_open(conn, vector_store_id)
    require_files(conn, [file_id for file_id, _, _ in files])
    return [attach(conn, vector_store_id, f, c, a, batch_id) for f, c, a in files]


def get_store_file(conn: Conn, vector_store_id: str, file_id: str) -> dict[str, Any]:
    """The store file, or 404."""
    get_store_row(conn, vector_store_id)
    row = conn.execute(
        "SELECT body FROM vector_store_files WHERE vector_store_id = ? AND id = ?",
        (vector_store_id, file_id),
    ).fetchone()
    if row is None:
        raise not_found("vector store file", file_id)
    body: dict[str, Any] = decode_stored(row[0])
    return body


def update_attributes(
    conn: Conn, vector_store_id: str, file_id: str, attributes: dict[str, Any] | None
) -> dict[str, Any]:
    """Replace a store file's `attributes`."""
    body = get_store_file(conn, vector_store_id, file_id)
    body["attributes"] = attributes or {}
    conn.execute(
        "UPDATE vector_store_files SET body = ? WHERE vector_store_id = ? AND id = ?",
        (encode_text(body), vector_store_id, file_id),
    )
    return body


def remove_store_file(conn: Conn, vector_store_id: str, file_id: str) -> dict[str, Any]:
    """Take a file out of a store (the file itself stays)."""
    get_store_file(conn, vector_store_id, file_id)
    delete_chunks(conn, vector_store_id, file_id)
    conn.execute(
        "DELETE FROM vector_store_files WHERE vector_store_id = ? AND id = ?",
        (vector_store_id, file_id),
    )
    return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}


def list_store_files(
    conn: Conn,
    vector_store_id: str,
    query: ListQuery,
    status: str | None,
    batch_id: str | None = None,
) -> dict[str, Any]:
    """One page of a store's files (or of one batch's), optionally of one status."""
    get_store_row(conn, vector_store_id)
    where, params = "vector_store_id = ?", [vector_store_id]
    if batch_id is not None:
        where += " AND batch_id = ?"
        params.append(batch_id)
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    return list_page(conn, "vector_store_files", query, where, tuple(params))


def all_store_files(conn: Conn, vector_store_ids: Sequence[str]) -> dict[tuple[str, str], Any]:
    """`(store id, file id) → attributes` of the completed files of those stores."""
    if not vector_store_ids:
        return {}
    marks = ", ".join("?" for _ in vector_store_ids)
    rows = conn.execute(
        "SELECT vector_store_id, id, body FROM vector_store_files"
        f" WHERE vector_store_id IN ({marks}) AND status = 'completed'",
        tuple(vector_store_ids),
    ).fetchall()
    return {(str(r[0]), str(r[1])): decode_stored(r[2]).get("attributes") or {} for r in rows}


def in_progress_count(conn: Conn, vector_store_id: str) -> int:
    """How many of the store's files are still being ingested."""
    row = conn.execute(
        "SELECT COUNT(*) FROM vector_store_files WHERE vector_store_id = ? AND status = 'in_progress'",
        (vector_store_id,),
    ).fetchone()
    return int(row[0])


# -- batches ----------------------------------------------------------------------------------


def create_batch(
    conn: Conn,
    vector_store_id: str,
    files: Sequence[tuple[str, dict[str, int], dict[str, Any] | None]],
) -> dict[str, Any]:
    """A batch attaching `files` to the store."""
    batch: dict[str, Any] = {
        "id": new_id("vsfb"),
        "object": "vector_store.files_batch",
        "created_at": now(),
        "vector_store_id": vector_store_id,
        "status": "in_progress",
    }
    attach_files(conn, vector_store_id, files, batch["id"])
    conn.execute(
        "INSERT INTO vector_store_file_batches (id, vector_store_id, body) VALUES (?, ?, ?)",
        (batch["id"], vector_store_id, encode_text(batch)),
    )
    return render_batch(conn, batch)


def render_batch(conn: Conn, batch: dict[str, Any]) -> dict[str, Any]:
    """The batch with its live `file_counts` and `status`."""
    counts, _ = file_counts(
        conn, "vector_store_id = ? AND batch_id = ?", (batch["vector_store_id"], batch["id"])
    )
    if counts["in_progress"]:
        status = "in_progress"
    elif batch["status"] == "cancelled":
        status = "cancelled"
    elif counts["total"] and counts["failed"] == counts["total"]:
        status = "failed"
    else:
        status = "completed"
    return {**batch, "status": status, "file_counts": counts}


def get_batch_row(conn: Conn, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    """The stored batch, or 404."""
    get_store_row(conn, vector_store_id)
    batch = load(conn, "vector_store_file_batches", batch_id)
    if batch is None or batch["vector_store_id"] != vector_store_id:
        raise not_found("vector store file batch", batch_id)
    return batch


def get_batch(conn: Conn, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    """The batch as the API shows it, or 404."""
    return render_batch(conn, get_batch_row(conn, vector_store_id, batch_id))


def cancel_batch(conn: Conn, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    """Cancel the batch's files still `in_progress` (the ones already ingested stay)."""
    batch = get_batch_row(conn, vector_store_id, batch_id)
    rows = conn.execute(
        "SELECT id, body FROM vector_store_files"
        " WHERE vector_store_id = ? AND batch_id = ? AND status = 'in_progress'",
        (vector_store_id, batch_id),
    ).fetchall()
    for file_id, raw in rows:
        body = decode_stored(raw)
        body["status"] = "cancelled"
        _write_result(conn, vector_store_id, str(file_id), body)
    batch["status"] = "cancelled"
    conn.execute(
        "UPDATE vector_store_file_batches SET body = ? WHERE id = ?", (encode_text(batch), batch_id)
    )
    return render_batch(conn, batch)


# -- ingestion claims -------------------------------------------------------------------------


def claim(conn: Conn, owner: str, lease_seconds: float) -> Claim | None:
    """Take the oldest `in_progress` store file nobody holds a live lease on, or None."""
    at = time.time()
    free = "status = 'in_progress' AND (lease_owner IS NULL OR lease_expires_at < ?)"
    rows = conn.execute(
        f"SELECT vector_store_id, id, body FROM vector_store_files WHERE {free} ORDER BY seq LIMIT 5",
        (at,),
    ).fetchall()
    for vector_store_id, file_id, raw in rows:
        taken = conn.execute(
            "UPDATE vector_store_files SET lease_owner = ?, lease_expires_at = ?"
            f" WHERE vector_store_id = ? AND id = ? AND {free}",
            (owner, at + lease_seconds, vector_store_id, file_id, at),
        )
        if taken.rowcount == 1:
            chunking = decode_stored(raw)["chunking_strategy"]["static"]
            return Claim(str(vector_store_id), str(file_id), chunking)
    return None


def renew(conn: Conn, owner: str, claims: Sequence[Claim], lease_seconds: float) -> None:
    """Extend this replica's leases on the files it is ingesting."""
    for held in claims:
        conn.execute(
            "UPDATE vector_store_files SET lease_expires_at = ?"
            " WHERE vector_store_id = ? AND id = ? AND lease_owner = ? AND status = 'in_progress'",
            (time.time() + lease_seconds, held.vector_store_id, held.file_id, owner),
        )


def _held(conn: Conn, owner: str, held: Claim) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT body FROM vector_store_files WHERE vector_store_id = ? AND id = ?"
        " AND lease_owner = ? AND status = 'in_progress'",
        (held.vector_store_id, held.file_id, owner),
    ).fetchone()
    return decode_stored(row[0]) if row else None


def _write_result(conn: Conn, vector_store_id: str, file_id: str, body: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE vector_store_files SET status = ?, usage_bytes = ?, body = ?, lease_owner = NULL,"
        " lease_expires_at = NULL WHERE vector_store_id = ? AND id = ?",
        (body["status"], body["usage_bytes"], encode_text(body), vector_store_id, file_id),
    )


def write_chunks(
    conn: Conn,
    owner: str,
    held: Claim,
    first_position: int,
    chunks: Sequence[str],
    embeddings: Sequence[Sequence[float]] | None,
) -> bool:
    """Write one part of a file's chunks, if this replica still holds the file (the first part
    drops what an earlier, lost attempt left). The file stays `in_progress`: searches skip it."""
    if _held(conn, owner, held) is None:
        return False
    if first_position == 0:
        delete_chunks(conn, held.vector_store_id, held.file_id)
    insert_chunks(conn, held.vector_store_id, held.file_id, chunks, embeddings, first_position)
    return True


def finish(conn: Conn, owner: str, held: Claim, usage_bytes: int) -> bool:
    """Mark the file `completed` (its chunks all written), if this replica still holds it."""
    body = _held(conn, owner, held)
    if body is None:
        return False
    body["status"] = "completed"
    body["usage_bytes"] = usage_bytes
    _write_result(conn, held.vector_store_id, held.file_id, body)
    return True


def fail(conn: Conn, owner: str, held: Claim, code: str, message: str) -> bool:
    """Mark the file `failed` with `last_error`, if this replica still holds it."""
    body = _held(conn, owner, held)
    if body is None:
        return False
    body["status"] = "failed"
    body["last_error"] = {"code": code, "message": message}
    _write_result(conn, held.vector_store_id, held.file_id, body)
    return True
