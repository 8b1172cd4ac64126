"""An OpenAI-compatible `/embeddings` endpoint, when `THREADLOOM_EMBEDDINGS_BASE_URL` is set.

`POST {base_url}/embeddings` with `{"model", "input": [texts]}`; the answer's `data[i].embedding`
is the vector of `input[i]` (matched by `index`). The client never retries on its own: a failed
request fails the ingestion of that file (`server_error`), or the search that needed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

BATCH = 64


class EmbeddingsSettings(BaseSettings):
    """`THREADLOOM_EMBEDDINGS_*`: unset `base_url` means lexical retrieval only."""

    model_config = SettingsConfigDict(env_prefix="THREADLOOM_EMBEDDINGS_", extra="ignore")

    base_url: str | None = None
    model: str = "text-embedding-3-small"
    api_key: SecretStr | None = None
    timeout_seconds: float = 60.0


class EmbeddingsError(RuntimeError):
    """The endpoint failed or answered something that is not embeddings."""


class Embedder:
    """Turns texts into vectors through the configured endpoint."""

    def __init__(self, settings: EmbeddingsSettings) -> None:
        assert settings.base_url
        self.model = settings.model
        headers = {}
        if settings.api_key is not None:
            headers["authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"), headers=headers, timeout=settings.timeout_seconds
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (requests of at most `BATCH` texts)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            vectors.extend(await self._embed(list(texts[start : start + BATCH])))
        return vectors

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        try:
            response = await self._client.post("/embeddings", json={"model": self.model, "input": texts})
        except httpx.HTTPError as exc:
            raise EmbeddingsError(f"embeddings request failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise EmbeddingsError(f"embeddings endpoint answered {response.status_code}")
        try:
            data: list[dict[str, Any]] = response.json()["data"]
            ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in ordered]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingsError("embeddings endpoint answered no embeddings") from exc
        if len(vectors) != len(texts):
            raise EmbeddingsError(f"asked for {len(texts)} embeddings, got {len(vectors)}")
        return vectors

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
