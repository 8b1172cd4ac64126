"""The SQLite schema of release 0.1.0 (before schema versions), frozen here as that release made it.

`old_database(path)` builds such a file with a few rows, so the migration tests can open it with the
current code and see that nothing was lost. `WITHOUT_STEPS_INDEX` is the schema of the releases
before the `steps_thread` index.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS assistants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL,
    run_id TEXT, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id, seq);
CREATE INDEX IF NOT EXISTS messages_run ON messages (thread_id, run_id, seq);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS runs_thread ON runs (thread_id, seq);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, thread_id TEXT NOT NULL,
    run_id TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS steps_run ON steps (run_id, seq);
CREATE INDEX IF NOT EXISTS steps_thread ON steps (thread_id);
CREATE TABLE IF NOT EXISTS fault_claims (
    thread_id TEXT NOT NULL, fault TEXT NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (thread_id, fault));
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY, method TEXT NOT NULL, path TEXT NOT NULL, body_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL, response TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
"""
WITHOUT_STEPS_INDEX = SCHEMA.replace("CREATE INDEX IF NOT EXISTS steps_thread ON steps (thread_id);", "")
THREAD = {
    "id": "thread_old",
    "object": "thread",
    "created_at": 1_700_000_000,
    "tool_resources": {},
    "metadata": {"made": "by 0.1.0"},
}
MESSAGE = {
    "id": "msg_old",
    "object": "thread.message",
    "created_at": 1_700_000_001,
    "thread_id": "thread_old",
    "status": "completed",
    "incomplete_details": None,
    "completed_at": None,
    "incomplete_at": None,
    "role": "user",
    "content": [{"type": "text", "text": {"value": "written by 0.1.0", "annotations": []}}],
    "assistant_id": None,
    "run_id": None,
    "attachments": [],
    "metadata": {},
}


def old_database(path: Path, schema: str = SCHEMA) -> None:
    """A SQLite file as release 0.1.0 left it: its schema, one thread with one message."""
    with sqlite3.connect(path) as conn:
        conn.executescript(schema)
        conn.execute("INSERT INTO threads (id, body) VALUES (?, ?)", (THREAD["id"], json.dumps(THREAD)))
        conn.execute(
            "INSERT INTO messages (id, thread_id, run_id, body) VALUES (?, ?, NULL, ?)",
            (MESSAGE["id"], MESSAGE["thread_id"], json.dumps(MESSAGE)),
        )
    conn.close()
