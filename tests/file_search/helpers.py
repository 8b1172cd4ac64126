"""Documents, uploads and store readiness for the file_search tests."""

from __future__ import annotations

import asyncio
from typing import Any

from threadloom.threads_server import retrieval
from threadloom.threads_server.files.uploads import upload_file
from threadloom.threads_server.storage import Database

DOCS = {
    "bikes.md": "# Bicycles\nPump the tyres to four bar. Oil the chain every two hundred kilometres.",
    "garden.txt": "Water the tomatoes at dawn. Prune the roses in late winter before new growth.",
    "kettle.txt": "The kettle boils water in three minutes. Descale the kettle with vinegar monthly.",
}
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"


async def upload(db: Database, *names: str) -> dict[str, str]:
    """Upload the named documents (purpose `assistants`); `{name: file id}`."""
    found = {}
    for name in names:
        made = await upload_file(db, name, DOCS[name].encode(), max_bytes=1 << 20)
        found[name] = str(made["id"])
    return found


async def ready(db: Database, store_id: str) -> None:
    """Wait until the store has no file in progress."""
    for _ in range(500):
        if await retrieval.files_in_progress(db, store_id) == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{store_id} still ingesting")


async def store_files(db: Database, store_id: str) -> list[str]:
    """The ids of the store's files, in the order they were added."""

    def read(conn: Any) -> list[str]:
        rows = conn.execute(
            "SELECT id FROM vector_store_files WHERE vector_store_id = ? ORDER BY seq", (store_id,)
        ).fetchall()
        return [str(row[0]) for row in rows]

    return await db.run(read)


async def store_body(db: Database, store_id: str) -> dict[str, Any]:
    """The stored vector store object."""
    from threadloom.threads_server.storage.vector_stores import get_store

    return await db.run(get_store, store_id)
