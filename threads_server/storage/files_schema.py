"""Schema version 4: files, vector stores, their files and batches, chunks and the lexical index.

Kept apart from `migrations.py` like `lease_schema.py`. A statement given as a `{dialect: sql}`
mapping differs per dialect: the lexical index is an FTS5 table on SQLite (`rowid` = the chunk's
`seq`, written by `storage/chunks.py`) and a generated `tsvector` column with a GIN index on
PostgreSQL. File contents live in the database (`{blob}`), so every replica sees every file.
"""

from __future__ import annotations

from typing import Any

FILES_MIGRATION: tuple[Any, ...] = (
    "CREATE TABLE IF NOT EXISTS files ("
    " seq {seq}, id TEXT NOT NULL UNIQUE, purpose TEXT NOT NULL, bytes INTEGER NOT NULL,"
    " expires_at {float}, body TEXT NOT NULL, content {blob} NOT NULL, text TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS vector_stores ( seq {seq}, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)",
    # `id` is the file's id: a file is in a store at most once.
    "CREATE TABLE IF NOT EXISTS vector_store_files ("
    " seq {seq}, id TEXT NOT NULL, vector_store_id TEXT NOT NULL, batch_id TEXT,"
    " status TEXT NOT NULL, usage_bytes INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL,"
    " lease_owner TEXT, lease_expires_at {float},"
    " UNIQUE (vector_store_id, id))",
    "CREATE INDEX IF NOT EXISTS vector_store_files_status"
    " ON vector_store_files (status, lease_expires_at)",
    "CREATE INDEX IF NOT EXISTS vector_store_files_file ON vector_store_files (id)",
    "CREATE INDEX IF NOT EXISTS vector_store_files_batch ON vector_store_files (batch_id)",
    "CREATE TABLE IF NOT EXISTS vector_store_file_batches ("
    " seq {seq}, id TEXT NOT NULL UNIQUE, vector_store_id TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS vector_store_chunks ("
    " seq {seq}, vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL, position INTEGER NOT NULL,"
    " text TEXT NOT NULL, embedding TEXT)",
    "CREATE INDEX IF NOT EXISTS vector_store_chunks_file"
    " ON vector_store_chunks (vector_store_id, file_id, position)",
    {
        "sqlite": "CREATE VIRTUAL TABLE IF NOT EXISTS vector_store_chunks_fts"
        " USING fts5(text, tokenize = 'porter unicode61')",
        "postgresql": "ALTER TABLE vector_store_chunks ADD COLUMN IF NOT EXISTS tsv tsvector"
        " GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    },
    {
        "sqlite": None,
        "postgresql": "CREATE INDEX IF NOT EXISTS vector_store_chunks_tsv"
        " ON vector_store_chunks USING GIN (tsv)",
    },
)
