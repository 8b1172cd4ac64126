"""The retrieval phase of `threadloom bench`, small: it ingests, searches and finds (never fast)."""

from __future__ import annotations

import argparse

import pytest

from threadloom.benchmarks.report import Report
from threadloom.benchmarks.retrieval_corpus import DOCUMENTS, QUESTIONS
from threadloom.benchmarks.retrieval_phase import corpus, retrieval_phase


def test_the_corpus_is_labelled_and_sized() -> None:
    assert {expected for _, expected in QUESTIONS} == set(DOCUMENTS)
    files = corpus(1000)
    assert files[: len(DOCUMENTS)] == [(name, text.encode()) for name, text in DOCUMENTS.items()]
    assert len(files) == len(DOCUMENTS) + 5  # 200-chunk fillers for the ~984 chunks left
    assert corpus(1000) == files, "seeded: every run searches the same corpus"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_small_retrieval_phase_ingests_searches_and_finds(backend: str, request) -> None:
    # The session's PostgreSQL cluster (missing binaries skip, or fail in CI, as elsewhere).
    pg = request.getfixturevalue("postgres") if backend == "postgresql" else None
    args = argparse.Namespace(retrieval_chunks=300, retrieval_searches=30, retrieval_backends=backend)
    report = Report("now", {})
    results = await retrieval_phase(args, report, pg=pg)
    figures = results[f"{backend} lexical"]
    assert report.extra and next(iter(report.extra.values())) is results
    assert figures["failed files"] == 0 and figures["files"] == len(DOCUMENTS) + 2
    assert 250 <= figures["chunks"] <= 400
    assert figures["MB/s"] > 0 and figures["chunks/s"] > 0
    assert 0 < figures["search p50 ms"] <= figures["search p99 ms"]
    assert figures["searches"] == 30
    # Word matching over the labelled documents and 300 look-alike filler chunks: most answers found.
    assert figures["recall@5"] >= 0.6, figures


async def test_with_an_embeddings_endpoint_the_phase_also_measures_semantic_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.files.fake_embeddings import fake_embeddings

    async with fake_embeddings() as fake:
        monkeypatch.setenv("THREADLOOM_EMBEDDINGS_BASE_URL", fake.base_url)
        args = argparse.Namespace(
            retrieval_chunks=100, retrieval_searches=24, retrieval_backends="sqlite"
        )
        results = await retrieval_phase(args, Report("now", {}))
    assert set(results) == {"sqlite lexical", "sqlite semantic"}
    assert fake.requests, "the semantic setup embedded its chunks and queries"
    semantic = results["sqlite semantic"]
    assert semantic["failed files"] == 0 and semantic["chunks"] >= 100
    assert 0 <= semantic["recall@5"] <= 1 and semantic["search p50 ms"] > 0
