"""Retrieval for the rest of the server: search vector stores, check ids, create stores, add files.

This is the interface the run machinery (`file_search`) builds on; the HTTP routes use it too.
Every function takes the server's `Database`; the embeddings client, when one is configured, is the
one the server's ingestor carries (`files.ingest.for_db`).

**Scores** are 0..1, higher is better:
- lexical only (the default): the database's ranking mapped onto 0..1 as `s / (s + 1)`, with `s`
  BM25 on SQLite (FTS5) and `ts_rank_cd` on PostgreSQL (see `storage/chunks.py`; BM25 scores are
  higher, 0.8-0.95 for a good match, than PostgreSQL's 0.1-0.5);
- with embeddings (`THREADLOOM_EMBEDDINGS_BASE_URL`): hybrid, `0.7 * max(cosine, 0) + 0.3 * lexical`
  over every chunk of the stores that has a vector (`files.vectors`; a chunk outside the lexical
  candidates counts 0 lexically). If the endpoint fails at search time, the search is lexical
  (logged as a warning) rather than an error.
`score_threshold` drops hits below it; `max_num_results` caps the list. Only files whose ingestion
`completed` are searched, and stores that do not exist or have expired are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from threadloom.threads_server.files import ingest
from threadloom.threads_server.files.chunking import resolve
from threadloom.threads_server.files.embeddings import EmbeddingsError
from threadloom.threads_server.files.filters import matches
from threadloom.threads_server.storage import Database
from threadloom.threads_server.storage import chunks as storage_chunks
from threadloom.threads_server.storage import files as storage_files
from threadloom.threads_server.storage import vector_store_files as store_files
from threadloom.threads_server.storage import vector_stores as storage_stores
from threadloom.threads_server.storage.connection import Conn
from threadloom.threads_server.wire_json import decode_stored

log = logging.getLogger("threads_server.retrieval")
SEMANTIC_WEIGHT = 0.7
MIN_CANDIDATES = 50

__all__ = [
    "Hit",
    "add_files",
    "create_vector_store",
    "files_in_progress",
    "missing_files",
    "missing_vector_stores",
    "search",
]


@dataclass(frozen=True)
class Hit:
    """One chunk found by a search."""

    vector_store_id: str
    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, str | float | bool]


@dataclass(frozen=True)
class _Found:
    rows: list[storage_chunks.ChunkRow]
    attributes: dict[tuple[str, str], Any]
    filenames: dict[str, str]
    stores: list[str]


def _open_stores(conn: Conn, ids: Sequence[str]) -> list[str]:
    found = []
    for store_id in dict.fromkeys(ids):
        store = storage_stores.find_store(conn, store_id)
        if store is not None and not storage_stores.is_expired(store):
            found.append(store_id)
    return found


def _filenames(conn: Conn, file_ids: Sequence[str]) -> dict[str, str]:
    names = {}
    for file_id in dict.fromkeys(file_ids):
        row = conn.execute("SELECT body FROM files WHERE id = ?", (file_id,)).fetchone()
        if row is not None:
            names[file_id] = str(decode_stored(row[0])["filename"])
    return names


def _gather(conn: Conn, ids: Sequence[str], query: str, limit: int) -> _Found:
    stores = _open_stores(conn, ids)
    rows = storage_chunks.lexical_search(conn, stores, query, limit)
    attributes = store_files.all_store_files(conn, stores)
    return _Found(rows, attributes, _filenames(conn, [r.file_id for r in rows]), stores)


def _touch_all(conn: Conn, ids: Sequence[str]) -> None:
    for store_id in ids:
        storage_stores.touch(conn, store_id)


async def search(
    db: Database,
    vector_store_ids: Sequence[str],
    query: str | Sequence[str],
    *,
    max_num_results: int = 20,
    score_threshold: float = 0.0,
    filters: dict[str, Any] | None = None,
) -> list[Hit]:
    """The best chunks of those stores for `query` (a string, or strings searched as one), best
    first, at most `max_num_results`, none scoring below `score_threshold`; `filters` (a checked
    comparison or compound filter, `files.filters`) on the files' attributes."""
    text = query if isinstance(query, str) else " ".join(query)
    limit = max(MIN_CANDIDATES, max_num_results * 5) if filters is None else 1000
    found = await db.run(_gather, list(vector_store_ids), text, limit)
    scored = {row.seq: (row, row.score) for row in found.rows}
    ingestor = ingest.for_db(db)
    vector = None
    if ingestor is not None and ingestor.embedder is not None and found.stores and text.strip():
        try:
            [vector] = await ingestor.embedder.embed([text])
        except EmbeddingsError as exc:
            log.warning("search falls back to lexical ranking: %s", exc)
    if ingestor is not None and vector is not None:
        seqs, cosines = await ingestor.vectors.similarities(db, found.stores, vector)
        combined = SEMANTIC_WEIGHT * np.maximum(cosines, 0.0)
        for seq, (_, lexical) in scored.items():
            combined[seqs == seq] += (1 - SEMANTIC_WEIGHT) * lexical
        count = min(limit, len(seqs))
        top: Any = np.argpartition(-combined, count - 1)[:count] if count else []
        best = {int(seqs[i]): float(combined[i]) for i in top}
        rows = await db.run(storage_chunks.chunks_by_seq, list(best))
        scored = {seq: (rows[seq], score) for seq, score in best.items() if seq in rows}
        missing = [row.file_id for row, _ in scored.values() if row.file_id not in found.filenames]
        if missing:
            found.filenames.update(await db.run(_filenames, missing))
    hits = []
    for row, score in sorted(scored.values(), key=lambda item: (-item[1], item[0].seq)):
        key = (row.vector_store_id, row.file_id)
        if key not in found.attributes or score < score_threshold:
            continue
        attributes = found.attributes[key]
        if filters is not None and not matches(filters, attributes):
            continue
        filename = found.filenames.get(row.file_id, "")
        hits.append(Hit(row.vector_store_id, row.file_id, filename, score, row.text, attributes))
        if len(hits) >= max_num_results:
            break
    if found.stores:
        await db.run(_touch_all, found.stores)
    return hits


async def missing_files(db: Database, file_ids: Sequence[str]) -> list[str]:
    """The ids among `file_ids` that are not live files of purpose `assistants`."""
    return await db.run(storage_files.missing_files, list(file_ids))


async def missing_vector_stores(db: Database, ids: Sequence[str]) -> list[str]:
    """The ids among `ids` that name no vector store."""
    return await db.run(storage_stores.missing_stores, list(ids))


def _create(
    conn: Conn,
    fields: dict[str, Any],
    files: list[tuple[str, dict[str, int], dict[str, Any] | None]],
) -> dict[str, Any]:
    storage_files.require_files(conn, [file_id for file_id, _, _ in files])
    store = storage_stores.new_store(fields)
    storage_stores.insert_store(conn, store)
    for file_id, chunking, attributes in files:
        store_files.attach(conn, store["id"], file_id, chunking, attributes)
    return storage_stores.render(conn, store)


async def create_store_object(
    db: Database, fields: dict[str, Any], chunking_strategy: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Create a store from API fields (`file_ids`, `name`, `metadata`, `expires_after`); the store
    object. 400 (nothing stored) if a file id is unknown or the chunking is out of range."""
    chunking = resolve(chunking_strategy)
    files = [(file_id, chunking, None) for file_id in dict.fromkeys(fields.get("file_ids") or [])]
    store = await db.run(_create, fields, files)
    if files:
        ingest.wake(db)
    return store


async def create_vector_store(
    db: Database,
    *,
    file_ids: Sequence[str],
    name: str | None = None,
    metadata: dict[str, str] | None = None,
    expires_after: dict[str, Any] | None = None,
) -> str:
    """Create a store holding `file_ids` (ingestion starts at once); its id. `APIError` 400 if a
    file id is unknown (nothing stored)."""
    fields: dict[str, Any] = {"file_ids": list(file_ids), "name": name, "metadata": metadata}
    if expires_after is not None:
        fields["expires_after"] = expires_after
    store = await create_store_object(db, fields)
    return str(store["id"])


async def add_files(db: Database, vector_store_id: str, file_ids: Sequence[str]) -> None:
    """Add files to a store with the `auto` chunking (ingestion starts at once); files already in
    it are left as they are. `APIError` 404/400 for an unknown store or file."""

    def add(conn: Conn) -> None:
        rows = conn.execute(
            "SELECT id FROM vector_store_files WHERE vector_store_id = ?", (vector_store_id,)
        ).fetchall()
        present = {str(row[0]) for row in rows}
        new = [(f, resolve(None), None) for f in dict.fromkeys(file_ids) if f not in present]
        store_files.attach_files(conn, vector_store_id, new)

    await db.run(add)
    ingest.wake(db)


async def files_in_progress(db: Database, vector_store_id: str) -> int:
    """How many of the store's files are still being ingested (0 for an unknown store)."""
    return await db.run(store_files.in_progress_count, vector_store_id)
