"""Idempotency keys: a creating request's stored answer, by key (see `threads_server.idempotency`)."""

from __future__ import annotations

from typing import Any

from threadloom.threads_server.storage.connection import Conn


def purge_expired(conn: Conn, cutoff: float) -> int:
    """Delete keys stored before `cutoff` (Unix seconds); returns how many."""
    return conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (cutoff,)).rowcount


def count_keys(conn: Conn) -> int:
    """How many keys are stored (expired ones not yet purged included)."""
    return int(conn.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0])


def find_key(conn: Conn, key: str, cutoff: float) -> tuple[str, str, str, int, str] | None:
    """`(method, path, body_sha256, status, response)` of a key stored from `cutoff` on, or None."""
    row = conn.execute(
        "SELECT method, path, body_sha256, status, response FROM idempotency_keys"
        " WHERE key = ? AND created_at >= ?",
        (key, cutoff),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]), int(row[3]), str(row[4]))


def store_key(
    conn: Conn, key: str, fingerprint: tuple[str, str, str], response: str, stamp: float
) -> None:
    """Store (or replace an expired) key with its fingerprint and 200 answer."""
    method, path, body_sha256 = fingerprint
    values: list[Any] = [key, method, path, body_sha256, 200, response, stamp]
    conn.execute(
        "INSERT INTO idempotency_keys (key, method, path, body_sha256, status, response, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET method = excluded.method,"
        " path = excluded.path, body_sha256 = excluded.body_sha256, status = excluded.status,"
        " response = excluded.response, created_at = excluded.created_at",
        values,
    )
