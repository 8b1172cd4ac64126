"""Semantic scores: the cosine of a query vector with every chunk vector of a store, in one
matrix product.

Each store's vectors are loaded once per process into a normalized float32 matrix and reloaded
only when the store's chunks change (`chunks.embedding_version`, checked at every search), so a
search costs one small query and one product, not a decode of every stored vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from threadloom.threads_server.storage import Database
from threadloom.threads_server.storage import chunks as storage_chunks

Floats = npt.NDArray[np.float32]
Seqs = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Loaded:
    version: tuple[int, int]
    seqs: Seqs
    matrix: Floats


def _normalized(matrix: Floats) -> Floats:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(matrix / norms, dtype=np.float32)


class VectorIndex:
    """The vectors of the stores this process searched, kept while they do not change."""

    def __init__(self) -> None:
        self._stores: dict[str, _Loaded] = {}

    async def _load(self, db: Database, vector_store_id: str) -> _Loaded | None:
        version = await db.run(storage_chunks.embedding_version, vector_store_id)
        loaded = self._stores.get(vector_store_id)
        if loaded is not None and loaded.version == version:
            return loaded
        pairs = await db.run(storage_chunks.store_vectors, vector_store_id)
        if pairs:
            # A store re-embedded by another model holds two sizes: the newest one counts.
            newest = len(pairs[-1][1])
            pairs = [pair for pair in pairs if len(pair[1]) == newest]
        if not pairs:
            self._stores.pop(vector_store_id, None)
            return None
        seqs = np.asarray([seq for seq, _ in pairs], dtype=np.int64)
        raw = np.frombuffer(b"".join(packed for _, packed in pairs), dtype="<f4")
        matrix = _normalized(raw.reshape(len(pairs), -1).astype(np.float32))
        loaded = _Loaded(version, seqs, matrix)
        self._stores[vector_store_id] = loaded
        return loaded

    async def similarities(
        self, db: Database, vector_store_ids: Sequence[str], query: Sequence[float]
    ) -> tuple[Seqs, Floats]:
        """The `seq`s of every chunk with a vector in those stores, and their cosines."""
        vector = _normalized(np.asarray([query], dtype=np.float32))[0]
        seqs: list[Seqs] = []
        scores: list[Floats] = []
        for store_id in vector_store_ids:
            loaded = await self._load(db, store_id)
            if loaded is not None and loaded.matrix.shape[1] == vector.shape[0]:
                seqs.append(loaded.seqs)
                scores.append(loaded.matrix @ vector)
        if not seqs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(seqs), np.concatenate(scores)
