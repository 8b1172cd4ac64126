"""A claim cancelled mid-transaction (a drain stopping its run's task) leaves no lease behind.

The transaction goes on in its database thread after its caller is cancelled; if it commits after the
drain looked for the runs it holds, the run used to wait for the lease of a replica that had already
exited (seen in CI as a SIGTERMed replica's run taken over by lease lapse instead of handed over).
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from threadloom.threads_server.events import RunEvents
from threadloom.threads_server.replicas import Replica
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import open_database
from threadloom.threads_server.storage.assistants import create_assistant
from threadloom.threads_server.storage.runs import create_run
from threadloom.threads_server.storage.target import DatabaseTarget
from threadloom.threads_server.storage.threads import create_thread


def _new_run(conn: object) -> str:
    assistant = create_assistant(conn, {"model": "echo"})  # type: ignore[arg-type]
    thread = create_thread(conn, {"messages": [{"role": "user", "content": "hi"}]})  # type: ignore[arg-type]
    return str(create_run(conn, thread["id"], {"assistant_id": assistant["id"]}, 600)["id"])  # type: ignore[arg-type]


async def test_a_cancelled_claim_hands_back_its_lease(postgres_url: str) -> None:
    db = open_database(DatabaseTarget.parse(postgres_url))
    await db.open()
    try:
        replica = Replica(db, RunEvents(), ServerSettings())
        for _ in range(5):  # the cancel lands at a different point of the transaction each time
            run_id = await db.run(_new_run)
            claim = asyncio.create_task(replica.claim(run_id, False))
            await asyncio.sleep(0)  # the transaction is on its way to the database thread
            claim.cancel()
            with pytest.raises(asyncio.CancelledError):
                await claim
            await asyncio.sleep(0.3)  # anything still in flight has committed by now
            with psycopg.connect(postgres_url) as conn:
                owner, status = conn.execute(
                    "SELECT lease_owner, status FROM runs WHERE id = %s", (run_id,)
                ).fetchone()  # type: ignore[misc]
            assert owner is None, f"{run_id} ({status}) still leased to the cancelled claimer"
    finally:
        await db.close()
