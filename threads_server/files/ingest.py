"""Ingestion in the background, on any replica, resumed after a restart.

Each server runs `workers` ingestion tasks (`THREADLOOM_SERVER_INGEST_WORKERS`; 0: this replica only
serves the API and leaves ingestion to others). A task claims one `in_progress` store file under a
lease (`vector_store_files.claim`), chunks the file's text, embeds the chunks when an embeddings
endpoint is configured, writes them `WRITE_CHUNKS` at a time, then marks the file `completed`,
each step only while it still holds the claim. Leases are renewed every third of their length;
a replica that dies (or a server that stops mid-file) leaves the claim to lapse, and whichever
replica looks next takes the file again (what the lost attempt wrote is dropped first, and was
never searched: searches only see `completed` files). Tasks wake at once for files attached through this
process (`wake`), and look every `poll_seconds` for files attached elsewhere or left behind.

The ingestor of a database is found through `for_db(db)` by code that has only the database (the
retrieval interface): it carries the embeddings client the searches use too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref

from threadloom.threads_server.files.chunking import chunk
from threadloom.threads_server.files.embeddings import Embedder, EmbeddingsError
from threadloom.threads_server.files.vectors import VectorIndex
from threadloom.threads_server.replicas import new_replica_id
from threadloom.threads_server.storage import Database, StorageUnavailable
from threadloom.threads_server.storage import files as storage_files
from threadloom.threads_server.storage import vector_store_files as store_files

log = logging.getLogger("threads_server.ingest")
_BY_DB: weakref.WeakKeyDictionary[Database, Ingestor] = weakref.WeakKeyDictionary()
PURGE_EVERY_SECONDS = 30.0
WRITE_CHUNKS = 500
"""Chunks written per transaction."""


def for_db(db: Database) -> Ingestor | None:
    """The ingestor started for `db` in this process, if any."""
    return _BY_DB.get(db)


def wake(db: Database) -> None:
    """Tell this process's ingestion tasks that files are waiting (no-op without an ingestor)."""
    ingestor = for_db(db)
    if ingestor is not None:
        ingestor.wake()


class Ingestor:
    """The ingestion tasks of one server process."""

    def __init__(
        self,
        db: Database,
        *,
        workers: int,
        lease_seconds: float,
        embedder: Embedder | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.vectors = VectorIndex()
        self.owner = f"ingest-{new_replica_id()}"
        self._workers = workers
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._held: dict[tuple[str, str], store_files.Claim] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._last_purge = 0.0

    async def start(self) -> None:
        """Register for `db` and start the tasks."""
        _BY_DB[self.db] = self
        if self._workers <= 0:
            return
        self._tasks = [
            asyncio.create_task(self._work_forever(), name=f"ingest {i}") for i in range(self._workers)
        ]
        self._tasks.append(asyncio.create_task(self._renew_forever(), name="ingest: renew"))

    async def stop(self) -> None:
        """Stop the tasks (a file being ingested stays `in_progress`; its claim lapses)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        if _BY_DB.get(self.db) is self:
            del _BY_DB[self.db]
        if self.embedder is not None:
            await self.embedder.aclose()

    def wake(self) -> None:
        """Look for files now."""
        self._wake.set()

    async def _work_forever(self) -> None:
        while True:
            try:
                claimed = await self.db.run(store_files.claim, self.owner, self._lease)
                if claimed is None:
                    await self._idle()
                    continue
                await self._ingest(claimed)
            except StorageUnavailable:
                await asyncio.sleep(self._poll)
            except Exception:
                log.exception("ingestion loop error")
                await asyncio.sleep(self._poll)

    async def _idle(self) -> None:
        if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            await self.db.run(storage_files.purge_expired)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._poll):
                await self._wake.wait()
        self._wake.clear()

    async def _ingest(self, claimed: store_files.Claim) -> None:
        key = (claimed.vector_store_id, claimed.file_id)
        self._held[key] = claimed
        try:
            text = await self.db.run(storage_files.file_text, claimed.file_id)
            if text is None:
                await self.db.run(
                    store_files.fail, self.owner, claimed, "invalid_file", "the file was deleted"
                )
                return
            size = claimed.chunking["max_chunk_size_tokens"]
            overlap = claimed.chunking["chunk_overlap_tokens"]
            chunks = await asyncio.to_thread(chunk, text, size, overlap)
            for start in range(0, max(len(chunks), 1), WRITE_CHUNKS):
                part = chunks[start : start + WRITE_CHUNKS]
                vectors = None
                if self.embedder is not None and part:
                    try:
                        vectors = await self.embedder.embed(part)
                    except EmbeddingsError as exc:
                        await self.db.run(
                            store_files.fail, self.owner, claimed, "server_error", str(exc)
                        )
                        return
                write = store_files.write_chunks
                if not await self.db.run(write, self.owner, claimed, start, part, vectors):
                    return  # no longer ours: removed, re-attached, cancelled or taken over
            usage = sum(len(text.encode("utf-8")) for text in chunks)
            await self.db.run(store_files.finish, self.owner, claimed, usage)
        except (StorageUnavailable, asyncio.CancelledError):
            raise  # the claim lapses and the file is taken again, here or elsewhere
        except Exception as exc:
            # A file that breaks ingestion would break it again on every replica: fail it.
            log.exception("ingestion of %s failed", claimed.file_id)
            message = f"ingestion failed ({type(exc).__name__})"
            await self.db.run(store_files.fail, self.owner, claimed, "server_error", message)
        finally:
            self._held.pop(key, None)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            if self._held:
                with contextlib.suppress(StorageUnavailable):
                    held = list(self._held.values())
                    await self.db.run(store_files.renew, self.owner, held, self._lease)
