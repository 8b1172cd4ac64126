"""Chunking strategies (`auto`, `static`) and the chunker.

There is no tokenizer model here: a token is approximated as a word or a single punctuation mark
(`\\w+|[^\\w\\s]`), which for English prose is within about 25% of OpenAI's tokenizers. A chunk is
the original text from its first token to its last, so whitespace and layout are kept; consecutive
chunks share `chunk_overlap_tokens` tokens.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

AUTO = {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}
MIN_CHUNK, MAX_CHUNK = 100, 4096
_TOKEN = re.compile(r"\w+|[^\w\s]")


class ChunkingError(ValueError):
    """A chunking strategy out of the spec's ranges (the message says which)."""


def resolve(strategy: dict[str, Any] | None) -> dict[str, int]:
    """`{max_chunk_size_tokens, chunk_overlap_tokens}` for a request's `chunking_strategy`."""
    if strategy is None or strategy.get("type") == "auto":
        return dict(AUTO)
    static = strategy.get("static") or {}
    size = static.get("max_chunk_size_tokens")
    overlap = static.get("chunk_overlap_tokens")
    if not isinstance(size, int) or not MIN_CHUNK <= size <= MAX_CHUNK:
        raise ChunkingError(
            f"max_chunk_size_tokens must be an integer from {MIN_CHUNK} to {MAX_CHUNK}, got {size!r}"
        )
    if not isinstance(overlap, int) or overlap < 0 or overlap > size // 2:
        raise ChunkingError(
            "chunk_overlap_tokens must be an integer from 0 to half of max_chunk_size_tokens"
            f" ({size // 2}), got {overlap!r}"
        )
    return {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}


def chunk(text: str, size: int, overlap: int) -> list[str]:
    """The chunks of `text`: windows of `size` tokens, each starting `size - overlap` after the last.

    Reads the tokens as a stream, holding one window of spans (not a list of every token, which
    for a 32 MiB file would take gigabytes).
    """
    step = max(size - overlap, 1)
    window: deque[tuple[int, int]] = deque()
    fresh = 0  # tokens in the window that no chunk has covered yet
    chunks = []
    for match in _TOKEN.finditer(text):
        window.append(match.span())
        fresh += 1
        if len(window) == size:
            chunks.append(text[window[0][0] : window[-1][1]])
            fresh = 0
            for _ in range(step):
                window.popleft()
    if fresh:
        chunks.append(text[window[0][0] : window[-1][1]])
    return chunks
