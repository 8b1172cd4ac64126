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

import base64
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from threadloom.threads_server.storage.connection import Conn

MAX_QUERY_WORDS = 64
INSERT_ROWS = 100
"""Chunks per INSERT statement (5 parameters each: under SQLite's 999-variable floor, and one
round trip per 100 chunks on PostgreSQL)."""
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
    first_position: int = 0,
) -> None:
    """Store chunks of one file in one store (and index them), `INSERT_ROWS` rows a statement;
    `texts[i]` is the file's chunk number `first_position + i`."""
    for start in range(0, len(texts), INSERT_ROWS):
        rows: list[Any] = []
        for i in range(start, min(start + INSERT_ROWS, len(texts))):
            vector = pack(embeddings[i]) if embeddings is not None else None
            rows.extend((vector_store_id, file_id, first_position + i, texts[i], vector))
        marks = ", ".join(["(?, ?, ?, ?, ?)"] * (len(rows) // 5))
        seqs = conn.execute(
            "INSERT INTO vector_store_chunks (vector_store_id, file_id, position, text, embedding)"
            f" VALUES {marks} RETURNING seq, text",
            rows,
        ).fetchall()
        if conn.dialect == "sqlite":
            pairs = [value for seq, text in seqs for value in (seq, text)]
            conn.execute(
                "INSERT INTO vector_store_chunks_fts (rowid, text) VALUES"
                + ", ".join(["(?, ?)"] * len(seqs)),
                pairs,
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
    # Chunks of a file still being ingested (written in parts) are not searched.
    ready = (
        " AND EXISTS (SELECT 1 FROM vector_store_files f WHERE f.vector_store_id = c.vector_store_id"
        " AND f.id = c.file_id AND f.status = 'completed')"
    )
    if conn.dialect == "sqlite":
        match = " OR ".join(f'"{word}"' for word in words)
        rows = conn.execute(
            "SELECT c.seq, c.vector_store_id, c.file_id, c.position, c.text,"
            " -bm25(vector_store_chunks_fts) FROM vector_store_chunks_fts"
            " JOIN vector_store_chunks c ON c.seq = vector_store_chunks_fts.rowid"
            f" WHERE vector_store_chunks_fts MATCH ? AND c.vector_store_id IN ({marks}){ready}"
            " ORDER BY bm25(vector_store_chunks_fts) LIMIT ?",
            (match, *vector_store_ids, limit),
        ).fetchall()
        return [_row(row, raw=True) for row in rows]
    rows = conn.execute(
        "SELECT c.seq, c.vector_store_id, c.file_id, c.position, c.text, ts_rank_cd(c.tsv, q, 32) AS s"
        " FROM vector_store_chunks c, to_tsquery('english', ?) q"
        f" WHERE c.tsv @@ q AND c.vector_store_id IN ({marks}){ready} ORDER BY s DESC, c.seq LIMIT ?",
        (" | ".join(words), *vector_store_ids, limit),
    ).fetchall()
    return [_row(row, raw=False) for row in rows]


def _row(row: Any, *, raw: bool) -> ChunkRow:
    value = max(float(row[5]), 0.0)
    score = value / (value + 1.0) if raw else min(value, 1.0)
    return ChunkRow(int(row[0]), str(row[1]), str(row[2]), int(row[3]), str(row[4]), score)


def pack(vector: Sequence[float]) -> str:
    """A vector as stored: base64 of little-endian float32s (a quarter of JSON's size, and
    decoded without parsing)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embedding_version(conn: Conn, vector_store_id: str) -> tuple[int, int]:
    """`(count, newest seq)` of the store's chunks: changes whenever its vectors change (chunks
    are only ever inserted and deleted, never updated)."""
    row = conn.execute(
        "SELECT COUNT(*), MAX(seq) FROM vector_store_chunks WHERE vector_store_id = ?",
        (vector_store_id,),
    ).fetchone()
    return int(row[0]), int(row[1] or 0)


def store_vectors(conn: Conn, vector_store_id: str) -> list[tuple[int, bytes]]:
    """`(seq, packed float32 vector)` of every chunk of the store that has one, by `seq`."""
    rows = conn.execute(
        "SELECT seq, embedding FROM vector_store_chunks"
        " WHERE vector_store_id = ? AND embedding IS NOT NULL ORDER BY seq",
        (vector_store_id,),
    ).fetchall()
    return [(int(row[0]), base64.b64decode(row[1])) for row in rows]


def chunks_by_seq(conn: Conn, seqs: Sequence[int]) -> dict[int, ChunkRow]:
    """The chunks with those `seq`s (score 0)."""
    found: dict[int, ChunkRow] = {}
    for start in range(0, len(seqs), 500):
        part = list(seqs[start : start + 500])
        marks = ", ".join("?" for _ in part)
        rows = conn.execute(
            "SELECT seq, vector_store_id, file_id, position, text FROM vector_store_chunks"
            f" WHERE seq IN ({marks})",
            part,
        ).fetchall()
        for r in rows:
            found[int(r[0])] = ChunkRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), 0.0)
    return found
