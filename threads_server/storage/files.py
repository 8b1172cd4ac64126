"""Files: their bytes, their extracted text and their wire object, one row each.

The `files` row keeps the upload (`content`), the text extracted at upload (`text`, what ingestion
chunks) and `body`, the `OpenAIFile` the API answers. A file past its `expires_at` is gone: every
read skips it, and `purge_expired` deletes it (and removes it from every store) later.
"""

from __future__ import annotations

import time
from typing import Any

from threadloom.threads_server.errors import APIError, not_found
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.storage.rows import ListQuery, insert
from threadloom.threads_server.wire_json import decode_stored

LIVE = "(expires_at IS NULL OR expires_at > ?)"


def insert_file(conn: Conn, file: dict[str, Any], content: bytes, text: str) -> dict[str, Any]:
    """Store an uploaded file (already validated and extracted)."""
    insert(
        conn,
        "files",
        file,
        purpose=file["purpose"],
        bytes=file["bytes"],
        expires_at=file.get("expires_at"),
        content=content,
        text=text,
    )
    return file


def find_file(conn: Conn, file_id: str) -> dict[str, Any] | None:
    """The live file object, or None."""
    row = conn.execute(
        f"SELECT body FROM files WHERE id = ? AND {LIVE}", (file_id, time.time())
    ).fetchone()
    return decode_stored(row[0]) if row else None


def get_file(conn: Conn, file_id: str) -> dict[str, Any]:
    """The file object, or 404."""
    file = find_file(conn, file_id)
    if file is None:
        raise not_found("file", file_id)
    return file


def file_content(conn: Conn, file_id: str) -> tuple[dict[str, Any], bytes]:
    """The file object and its bytes, or 404."""
    file = get_file(conn, file_id)
    row = conn.execute("SELECT content FROM files WHERE id = ?", (file_id,)).fetchone()
    return file, bytes(row[0])


def file_text(conn: Conn, file_id: str) -> str | None:
    """The text extracted from a live file, or None if it is gone."""
    row = conn.execute(
        f"SELECT text FROM files WHERE id = ? AND {LIVE}", (file_id, time.time())
    ).fetchone()
    return str(row[0]) if row else None


def missing_files(conn: Conn, file_ids: list[str], purpose: str = "assistants") -> list[str]:
    """The ids among `file_ids` with no live file of `purpose` (in the order given)."""
    missing = []
    for file_id in dict.fromkeys(file_ids):
        row = conn.execute(
            f"SELECT purpose FROM files WHERE id = ? AND {LIVE}", (file_id, time.time())
        ).fetchone()
        if row is None or row[0] != purpose:
            missing.append(file_id)
    return missing


def require_files(conn: Conn, file_ids: list[str]) -> None:
    """400 naming the first id that is not a live `assistants` file."""
    missing = missing_files(conn, file_ids)
    if missing:
        raise APIError(
            f"No file found with id '{missing[0]}' (files must exist and have purpose 'assistants').",
            param="file_ids",
            code="invalid_file_id",
        )


def list_files(conn: Conn, query: ListQuery, purpose: str | None) -> dict[str, Any]:
    """One page of files, newest first by default, optionally of one purpose."""
    clauses, params = [LIVE], [time.time()]
    if purpose is not None:
        clauses.append("purpose = ?")
        params.append(purpose)  # type: ignore[arg-type]
    ascending = query.order == "asc"
    if query.after:
        row = conn.execute("SELECT seq FROM files WHERE id = ?", (query.after,)).fetchone()
        if row is None:
            raise APIError(f"Invalid 'after': no file with id '{query.after}'.", param="after")
        clauses.append("seq > ?" if ascending else "seq < ?")
        params.append(row[0])
    rows = conn.execute(
        f"SELECT body FROM files WHERE {' AND '.join(clauses)}"
        f" ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?",
        (*params, query.limit + 1),
    ).fetchall()
    data = [decode_stored(row[0]) for row in rows[: query.limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(rows) > query.limit,
    }


def remove_everywhere(conn: Conn, file_id: str) -> None:
    """Take a file out of every store: its store rows and its chunks (the file row stays)."""
    from threadloom.threads_server.storage.chunks import delete_chunks

    delete_chunks(conn, None, file_id)
    conn.execute("DELETE FROM vector_store_files WHERE id = ?", (file_id,))


def delete_file(conn: Conn, file_id: str) -> dict[str, Any]:
    """Delete the file and remove it from every vector store."""
    get_file(conn, file_id)
    remove_everywhere(conn, file_id)
    conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
    return {"id": file_id, "object": "file", "deleted": True}


def purge_expired(conn: Conn, limit: int = 100) -> int:
    """Delete files past their `expires_at` (and take them out of their stores); how many."""
    rows = conn.execute(
        "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?",
        (time.time(), limit),
    ).fetchall()
    for (file_id,) in rows:
        remove_everywhere(conn, file_id)
        conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
    return len(rows)
