"""`threadloom bench --retrieval`: ingestion throughput, search latency and recall@5, per backend.

For each backend of `--retrieval-backends` (SQLite, PostgreSQL) the phase starts a threads server in
this process on a fresh database and drives it over HTTP, as a client would:
1. uploads the corpus: the eight labelled documents of `retrieval_corpus` plus seeded filler
   documents, enough for `--retrieval-chunks` chunks at the smallest static chunking (100 tokens,
   no overlap);
2. creates one vector store with all of them and polls it until no file is in progress:
   ingestion throughput is the corpus's MB and chunks over that time (upload not included);
3. searches the store with each labelled question (`max_num_results` 5): recall@5 is the share of
   questions whose answering document is among the results; search latency p50/p99 is taken over
   `--retrieval-searches` searches (the questions, round after round).
Lexical ranking always; semantic (hybrid) too when `THREADLOOM_EMBEDDINGS_BASE_URL` names an
embeddings endpoint. The server shares this process with the benchmark's client, so the figures
include both sides' CPU; PostgreSQL is a local throwaway cluster with fsync on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadloom.benchmarks.figures import percentile
from threadloom.benchmarks.local_postgres import PostgresServer, find_bin_dir
from threadloom.benchmarks.report import Report
from threadloom.benchmarks.retrieval_corpus import DOCUMENTS, QUESTIONS, filler
from threadloom.threads_client import ThreadsClient
from threadloom.threads_server.files.embeddings import EmbeddingsSettings
from threadloom.threads_server.testing import running_server

CHUNK_TOKENS = 100
STATIC = {"type": "static", "static": {"max_chunk_size_tokens": CHUNK_TOKENS, "chunk_overlap_tokens": 0}}
FILLER_TOKENS = 20_000  # per filler document: 200 chunks
INGEST_TIMEOUT_S = 1800.0
TOP_K = 5


def corpus(chunks: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """The labelled documents and enough filler for about `chunks` chunks in all."""
    files = [(name, text.encode()) for name, text in DOCUMENTS.items()]
    remaining = max(0, chunks - 2 * len(files))  # the labelled documents make about 2 each
    number = 0
    while remaining > 0:
        tokens = min(FILLER_TOKENS, remaining * CHUNK_TOKENS)
        files.append((f"filler-{number:03d}.txt", filler(tokens, seed + number).encode()))
        remaining -= tokens // CHUNK_TOKENS
        number += 1
    return files


def _count_chunks(conn: Any, store_id: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM vector_store_chunks WHERE vector_store_id = ?", (store_id,)
    ).fetchone()
    return int(row[0])


async def _ingest(client: ThreadsClient, file_ids: list[str]) -> tuple[str, float, Any]:
    started = time.perf_counter()
    store = await client.vector_stores.create(name="bench", file_ids=file_ids, chunking_strategy=STATIC)
    while store.file_counts.in_progress and time.perf_counter() - started < INGEST_TIMEOUT_S:
        await asyncio.sleep(0.05)
        store = await client.vector_stores.retrieve(store.id)
    return store.id, time.perf_counter() - started, store.file_counts


async def measure(
    database: Path | str, embeddings: EmbeddingsSettings, files: list[tuple[str, bytes]], searches: int
) -> dict[str, Any]:
    """Upload, ingest and search `files` on one server over `database`; its figures."""
    async with running_server(database, embeddings=embeddings) as server:
        async with ThreadsClient(server.base_url, max_retries=0, timeout=300) as client:
            ids = {name: (await client.files.create((name, data))).id for name, data in files}
            store_id, seconds, counts = await _ingest(client, list(ids.values()))
            chunks = await server.app.state.services.db.run(_count_chunks, store_id)
            found, latencies, missed = 0, [], []
            for number in range(max(searches, len(QUESTIONS))):
                question, expected = QUESTIONS[number % len(QUESTIONS)]
                began = time.perf_counter()
                page = await client.vector_stores.search(store_id, question, max_num_results=TOP_K)
                latencies.append((time.perf_counter() - began) * 1000)
                if number < len(QUESTIONS):
                    hit = ids[expected] in [result.file_id for result in page.data]
                    found += hit
                    missed += [] if hit else [question]
    megabytes = sum(len(data) for _, data in files) / 1e6
    return {
        "files": len(files),
        "failed files": counts.failed,
        "MB": round(megabytes, 2),
        "chunks": chunks,
        "ingest s": round(seconds, 2),
        "MB/s": round(megabytes / seconds, 3) if seconds else None,
        "chunks/s": round(chunks / seconds, 1) if seconds else None,
        "search p50 ms": round(percentile(latencies, 50) or 0, 2),
        "search p99 ms": round(percentile(latencies, 99) or 0, 2),
        "searches": len(latencies),
        f"recall@{TOP_K}": round(found / len(QUESTIONS), 3),
        "questions": len(QUESTIONS),
        "missed": missed,
    }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The in-process server's request logs would bury the table."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


async def retrieval_phase(
    args: argparse.Namespace, report: Report, *, pg: PostgresServer | None = None
) -> dict[str, Any]:
    """Run every backend of `--retrieval-backends`; record (and return) their figures.

    PostgreSQL runs on `pg` when given (the tests' cluster), else on a throwaway durable one.
    """
    backends = [item.strip() for item in args.retrieval_backends.split(",") if item.strip()]
    files = corpus(args.retrieval_chunks)
    configured = EmbeddingsSettings()
    modes = [("lexical", EmbeddingsSettings(base_url=None))]
    if configured.base_url:
        modes.append(("semantic", configured))
    results: dict[str, Any] = {}
    own = pg is None
    if "postgresql" in backends and pg is None:
        if find_bin_dir() is None:
            results["postgresql"] = "not run: no PostgreSQL binaries (apt-get install postgresql)"
            backends.remove("postgresql")
        else:
            pg = await asyncio.to_thread(PostgresServer.start, durable=True)
    try:
        with tempfile.TemporaryDirectory(prefix="threadloom-retrieval-") as home, _quiet():
            for backend in backends:
                for mode, embeddings in modes:
                    if backend == "postgresql":
                        assert pg is not None
                        database: Path | str = await asyncio.to_thread(pg.create_database)
                    else:
                        database = Path(home) / f"{mode}.db"
                    figures = await measure(database, embeddings, files, args.retrieval_searches)
                    results[f"{backend} {mode}"] = figures
    finally:
        if own and pg is not None:
            await asyncio.to_thread(pg.close)
    report.extra[f"retrieval phase (~{args.retrieval_chunks} chunks of {CHUNK_TOKENS} tokens)"] = results
    return results
