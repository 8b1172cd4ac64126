"""A small OpenAI-compatible `/embeddings` server for tests, on a real socket.

Vectors are deterministic: a hashed bag of words (64 dimensions), where a few synonyms share a
word first (`automobile` → `car`), so a query can match a document semantically that it shares no
word with. It records the requests it answered, and fails on demand (`failing`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from threadloom.threads_server.testing import serve

DIMENSIONS = 64
SYNONYMS = {"automobile": "car", "vehicle": "car", "motorcar": "car", "feline": "cat", "kitty": "cat"}


def vector(text: str) -> list[float]:
    """The vector of `text`."""
    values = [0.0] * DIMENSIONS
    for word in re.findall(r"[a-z]+", text.lower()):
        word = SYNONYMS.get(word, word)
        values[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


@dataclass
class FakeEmbeddings:
    """The running fake: its base URL and what it was asked."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    failing: bool = False
    """While set, every request is answered 500."""


@asynccontextmanager
async def fake_embeddings() -> AsyncIterator[FakeEmbeddings]:
    """Serve the fake on a free loopback port."""
    fake = FakeEmbeddings()
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        body = await request.json()
        if fake.failing:
            return JSONResponse({"error": {"message": "down"}}, status_code=500)
        fake.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return {
            "object": "list",
            "model": body["model"],
            "data": [
                {"object": "embedding", "index": i, "embedding": vector(text)}
                for i, text in enumerate(inputs)
            ],
        }

    async with serve(app) as root:
        fake.base_url = f"{root}/v1"
        yield fake
