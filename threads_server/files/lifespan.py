"""The files part of the server's lifespan: the ingestor (with the embeddings client, if any)."""

from __future__ import annotations

from threadloom.threads_server.files.embeddings import Embedder
from threadloom.threads_server.files.ingest import Ingestor
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import Database


def start_ingestion(db: Database, settings: ServerSettings) -> Ingestor:
    """The ingestor of this server (not started yet)."""
    embedder = Embedder(settings.embeddings) if settings.embeddings.base_url else None
    return Ingestor(
        db,
        workers=settings.ingest_workers,
        lease_seconds=settings.replica_lease_seconds,
        embedder=embedder,
    )
