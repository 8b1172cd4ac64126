"""Chunks of the files in vector stores, their lexical index, and the ingestion claim on a file.

Lexical ranking is the database's own: BM25 through SQLite's FTS5 (`bm25()`), `ts_rank_cd` over a
generated `tsvector` on PostgreSQL. Both raw scores grow without bound, so they are mapped onto 0..1
as `s / (s + 1)` (PostgreSQL's normalization flag 32 does exactly that to `ts_rank_cd`; on SQLite
`s` is `-bm25()`), which keeps the order and makes `score_threshold` a fixed bar. The two scales are
not the same: BM25 reaches 0.8-0.95 for a chunk that matches a few query words, `ts_rank_cd` 0.1-0.5.
Query words are letters and digits only, OR-ed together, so any user text is a valid query.

Ingestion claims a `vector_store_files` row under a lease (`claim_file`), like runs: a replica that
dies leaves the row `in_progress` with a lapsing lease, and any replica claims it again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from threadloom.threads_server.storage.connection import Conn

MAX_QUERY_WORDS = 64
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class ChunkRow:
    """One chunk found by a search, with its 0..1 score."""

    seq: int
    vector_store_id: str
    file_id: str
    position: int
    text: str
    score: float


def query_words(query: str) -> list[str]:
    """The distinct lowercase words of `query` (at most `MAX_QUERY_WORDS`)."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))[:MAX_QUERY_WORDS]


def insert_chunks(
    conn: Conn,
    vector_store_id: str,
    file_id: str,
    texts: Sequence[str],
    embeddings: Sequence[Sequence[float]] | None = None,
) -> None:
    """Store the chunks of one file in one store (and index them)."""
    for position, text in enumerate(texts):
        vector = json.dumps(list(embeddings[position])) if embeddings is not None else None
        row = conn.execute(
            "INSERT INTO vector_store_chunks (vector_store_id, file_id, position, text, embedding)"
            " VALUES (?, ?, ?, ?, ?) RETURNING seq",
            (vector_store_id, file_id, position, text, vector),
        ).fetchone()
        if conn.dialect == "sqlite":
            conn.execute(
                "INSERT INTO vector_store_chunks_fts (rowid, text) VALUES (?, ?)", (row[0], text)
            )


def delete_chunks(conn: Conn, vector_store_id: str | None, file_id: str | None) -> None:
    """Delete the chunks of a file in one store, of a file everywhere, or of a whole store."""
    clauses, params = [], []
    if vector_store_id is not None:
        clauses.append("vector_store_id = ?")
        params.append(vector_store_id)
    if file_id is not None:
        clauses.append("file_id = ?")
        params.append(file_id)
    where = " AND ".join(clauses)
    if conn.dialect == "sqlite":
        conn.execute(
            "DELETE FROM vector_store_chunks_fts WHERE rowid IN"
            f" (SELECT seq FROM vector_store_chunks WHERE {where})",
            params,
        )
    conn.execute(f"DELETE FROM vector_store_chunks WHERE {where}", params)


def file_chunks(conn: Conn, vector_store_id: str, file_id: str) -> list[str]:
    """The chunks of one file in one store, in order."""
    rows = conn.execute(
        "SELECT text FROM vector_store_chunks WHERE vector_store_id = ? AND file_id = ?"
        " ORDER BY position",
        (vector_store_id, file_id),
    ).fetchall()
    return [str(row[0]) for row in rows]


def lexical_search(
    conn: Conn, vector_store_ids: Sequence[str], query: str, limit: int
) -> list[ChunkRow]:
    """The best `limit` chunks of those stores for `query`, best first."""
    words = query_words(query)
    if not words or not vector_store_ids:
        return []
    marks = ", ".join("?" for _ in vector_store_ids)
    if conn.dialect == "sqlite":
        match = " OR ".join(f'"{word}"' for word in words)
        rows = conn.execute(
            "SELECT c.seq, c.vector_store_id, c.file_id, c.position, c.text,"
            " -bm25(vector_store_chunks_fts) FROM vector_store_chunks_fts"
            " JOIN vector_store_chunks c ON c.seq = vector_store_chunks_fts.rowid"
            f" WHERE vector_store_chunks_fts MATCH ? AND c.vector_store_id IN ({marks})"
            " ORDER BY bm25(vector_store_chunks_fts) LIMIT ?",
            (match, *vector_store_ids, limit),
        ).fetchall()
        return [_row(row, raw=True) for row in rows]
    rows = conn.execute(
        "SELECT c.seq, c.vector_store_id, c.file_id, c.position, c.text, ts_rank_cd(c.tsv, q, 32) AS s"
        " FROM vector_store_chunks c, to_tsquery('english', ?) q"
        f" WHERE c.tsv @@ q AND c.vector_store_id IN ({marks}) ORDER BY s DESC, c.seq LIMIT ?",
        (" | ".join(words), *vector_store_ids, limit),
    ).fetchall()
    return [_row(row, raw=False) for row in rows]


def _row(row: Any, *, raw: bool) -> ChunkRow:
    value = max(float(row[5]), 0.0)
    score = value / (value + 1.0) if raw else min(value, 1.0)
    return ChunkRow(int(row[0]), str(row[1]), str(row[2]), int(row[3]), str(row[4]), score)


def embedded_chunks(conn: Conn, vector_store_ids: Sequence[str]) -> list[tuple[ChunkRow, list[float]]]:
    """Every chunk of those stores that has a vector, with it (score 0)."""
    if not vector_store_ids:
        return []
    marks = ", ".join("?" for _ in vector_store_ids)
    rows = conn.execute(
        "SELECT seq, vector_store_id, file_id, position, text, embedding FROM vector_store_chunks"
        f" WHERE vector_store_id IN ({marks}) AND embedding IS NOT NULL",
        tuple(vector_store_ids),
    ).fetchall()
    return [
        (ChunkRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), 0.0), json.loads(r[5]))
        for r in rows
    ]
