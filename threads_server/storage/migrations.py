"""Versioned schema migrations, one list for both dialects, applied at start-up under a lock.

Version N is `MIGRATIONS[N - 1]`; `schema_migrations` records each applied version. The statements are
written once; `{seq}` (the autoincrement list order) and `{float}` (a double) are the only column
types that differ. Every statement is idempotent (`IF NOT EXISTS`), so version 1 also adopts a
database made by a release before versions existed: its tables are kept, what it lacked is added.

Two replicas starting at once must not both migrate: on PostgreSQL the migration transaction first
takes a transaction-scoped advisory lock (`pg_advisory_xact_lock`) and runs at READ COMMITTED, so
the second replica, once it gets the lock, sees the versions the first committed; on SQLite
`BEGIN IMMEDIATE` takes the file's write lock. A database whose newest version is above the newest
known here was migrated by a newer release: the server refuses to start rather than guess.
"""

from __future__ import annotations

import time
from typing import Any

from threadloom.threads_server.storage.connection import Conn, Dialect
from threadloom.threads_server.storage.errors import StartupError
from threadloom.threads_server.storage.files_schema import FILES_MIGRATION
from threadloom.threads_server.storage.lease_schema import LEASE_MIGRATION

ADVISORY_LOCK_KEY = 7_408_001_013
"""PostgreSQL advisory lock id taken while migrating (any constant no other tool uses)."""

TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"seq": "INTEGER PRIMARY KEY AUTOINCREMENT", "float": "REAL", "blob": "BLOB"},
    "postgresql": {
        "seq": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "float": "DOUBLE PRECISION",
        "blob": "BYTEA",
    },
}

MIGRATIONS: tuple[tuple[Any, ...], ...] = (
    # 1: the schema of release 0.1.0 (with the `steps_thread` index added in that release).
    (
        "CREATE TABLE IF NOT EXISTS assistants ("
        " seq {seq}, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS threads (seq {seq}, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS messages ("
        " seq {seq}, id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL, run_id TEXT, body TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id, seq)",
        "CREATE INDEX IF NOT EXISTS messages_run ON messages (thread_id, run_id, seq)",
        "CREATE TABLE IF NOT EXISTS runs ("
        " seq {seq}, id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL, status TEXT NOT NULL,"
        " body TEXT NOT NULL, state TEXT NOT NULL DEFAULT '{{}}')",
        "CREATE INDEX IF NOT EXISTS runs_thread ON runs (thread_id, seq)",
        "CREATE INDEX IF NOT EXISTS runs_status ON runs (status)",
        "CREATE TABLE IF NOT EXISTS steps ("
        " seq {seq}, id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL, run_id TEXT NOT NULL,"
        " status TEXT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS steps_run ON steps (run_id, seq)",
        "CREATE INDEX IF NOT EXISTS steps_thread ON steps (thread_id)",
        "CREATE TABLE IF NOT EXISTS fault_claims ("
        " thread_id TEXT NOT NULL, fault TEXT NOT NULL, used INTEGER NOT NULL,"
        " PRIMARY KEY (thread_id, fault))",
        "CREATE TABLE IF NOT EXISTS idempotency_keys ("
        " key TEXT PRIMARY KEY, method TEXT NOT NULL, path TEXT NOT NULL, body_sha256 TEXT NOT NULL,"
        " status INTEGER NOT NULL, response TEXT NOT NULL, created_at {float} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at)",
    ),
    # 2: at most one active run per thread, enforced by the database (many writers on PostgreSQL).
    (
        "CREATE UNIQUE INDEX IF NOT EXISTS runs_one_active ON runs (thread_id)"
        " WHERE status IN ('queued', 'in_progress', 'requires_action', 'cancelling')",
    ),
    LEASE_MIGRATION,  # 3: run leases for replicas (lease_schema.py)
    FILES_MIGRATION,  # 4: files, vector stores, chunks, lexical index (files_schema.py)
)
LATEST = len(MIGRATIONS)


def statements(dialect: Dialect, version: int) -> list[str]:
    """The SQL of one version for one dialect (a `{dialect: sql}` entry is one dialect's own; None
    there means nothing to run on that dialect)."""
    found = []
    for entry in MIGRATIONS[version - 1]:
        sql = entry.get(dialect) if isinstance(entry, dict) else entry
        if sql is not None:
            found.append(sql.format(**TYPES[dialect]))
    return found


def current_version(conn: Conn) -> int:
    """The newest applied version (0 for a database without `schema_migrations`)."""
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: Conn) -> list[int]:
    """Apply the missing versions inside the caller's transaction; returns the versions applied.

    The caller holds the migration lock (see the module docstring). StartupError if the database
    was migrated by a newer release.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        f" version INTEGER PRIMARY KEY, applied_at {TYPES[conn.dialect]['float']} NOT NULL)"
    )
    found = current_version(conn)
    if found > LATEST:
        raise StartupError(
            f"the database schema is version {found}, newer than this release knows ({LATEST}); "
            "run the release that migrated it, or a newer one"
        )
    applied = []
    for version in range(found + 1, LATEST + 1):
        for sql in statements(conn.dialect, version):
            conn.execute(sql)
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, time.time())
        )
        applied.append(version)
    return applied
