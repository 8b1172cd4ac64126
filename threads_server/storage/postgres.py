"""PostgreSQL through psycopg 3: the same synchronous storage functions, run by a pool of threads.

Each `run(fn, *args)` runs `fn` inside one READ COMMITTED transaction on one of `pool_size` threads,
each with a connection of its own (a broken one is replaced on the next transaction, so service
resumes as soon as PostgreSQL is back; psycopg_pool's reconnection backoff delayed that by ~7 s after
a 20 s outage). The rules that a single
SQLite writer keeps for free are kept here by the database itself, whatever the number of replicas:
- every transaction that writes to a thread first takes the thread's advisory lock
  (`rows.lock_thread`; assistants and idempotency keys have their own), so check-then-write on one
  thread (the one active run, the message limit) is atomic, and a thread's list rows commit in
  `seq` order, which keeps list cursors stable under concurrent inserts;
- a run moves by compare-and-set (`UPDATE … WHERE status = <the status it was read in>`); a miss
  (`WriteConflict`) runs the transaction again, which then sees who moved the run first;
- a partial unique index allows one active run per thread (`migrations`, version 2), and the
  idempotency key is the primary key of its table.
A deadlock or serialization failure also runs the transaction again (up to `MAX_ATTEMPTS`), so
storage functions must not have effects outside the database. A connection that breaks before
COMMIT is replaced and the transaction retried once; PostgreSQL unreachable is `StorageUnavailable`
(503), after at most `CONNECT_TIMEOUT_SECONDS` (at once when the connection is refused).

Isolation, measured (200 turns of add message + create run + long-poll + list at concurrency 20,
in-process, load average 7-10 from other work): READ COMMITTED + thread locks 22.5 / 21.6 turns/s
with 0 transactions retried; SERIALIZABLE + the same locks 12.9 / 13.3 turns/s with 457 / 424
retried (a serializable snapshot is taken before the lock is granted, so waiting for the lock
turns into a serialization failure, and btree predicate locks are per page, so threads conflict);
SERIALIZABLE without locks 18.7 turns/s with 296 retried, and assistants' list rows could commit
out of `seq` order.

Driver choice, measured on this machine (2 cores shared with other test runs; PostgreSQL 15 on
loopback; 2,000 transactions of one indexed SELECT + one INSERT, 4 at a time; two rounds):
psycopg 3.3 (+ psycopg_pool), sync in 4 threads: 2,213 / 1,552 tx/s, 445 / 646 µs client CPU per
transaction; asyncpg 0.32, native async, pool of 4: 2,908 / 2,608 tx/s, 330 / 361 µs. asyncpg is
about 1.3-1.7 times faster per transaction, but it would need a second, async copy of every storage
function; psycopg keeps one copy of the storage logic for both backends, and a turn costs the server
a few milliseconds of HTTP and runner work next to these fractions of one (`threadloom bench`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from threadloom.threads_server.storage import migrations
from threadloom.threads_server.storage.connection import Dialect, Result, to_format_style
from threadloom.threads_server.storage.database import Database
from threadloom.threads_server.storage.errors import StartupError, StorageUnavailable, WriteConflict
from threadloom.threads_server.storage.target import DatabaseTarget

T = TypeVar("T")
log = logging.getLogger("threads_server.storage")
MAX_ATTEMPTS = 20
CONNECT_TIMEOUT_SECONDS = 3
RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, WriteConflict)
BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"


def _clean(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; no stored id or key holds one, so a NUL in a lookup (a path
    # parameter) can match nothing either way. JSON bodies escape it (`\u0000`), so they never do.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


class PostgresConn:
    """A `Conn` over a psycopg connection: `?` placeholders become `%s`."""

    dialect: Dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run one statement."""
        cursor = self.raw.execute(to_format_style(sql), [_clean(p) for p in params])
        return cursor

    def lock(self, key: str) -> None:
        """A transaction-scoped advisory lock on a 64-bit hash of `key` (a collision only waits)."""
        self.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_clean(key),))


class PostgresDatabase(Database):
    """A PostgreSQL database named by a `postgresql://` URL."""

    dialect: Dialect = "postgresql"

    def __init__(self, target: DatabaseTarget, *, pool_size: int = 4) -> None:
        assert target.url is not None
        self.target = target
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="threadloom-pg")
        self._local = threading.local()
        self._opened: list[psycopg.Connection[Any]] = []
        self._opened_lock = threading.Lock()
        self._open_done = False
        self.retries = 0
        """Transactions run again after a deadlock, serialization failure or compare-and-set miss."""

    async def open(self) -> None:
        """Connect once (a clear StartupError if that fails) and migrate."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _open(self) -> None:
        try:
            raw = self._connection()
        except psycopg.Error as exc:
            message = f"cannot connect to PostgreSQL at {self.target.display}: {_reason(exc)}"
            raise StartupError(self.target.scrub(message)) from None
        try:
            with raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (migrations.ADVISORY_LOCK_KEY,))
                applied = migrations.migrate(PostgresConn(raw))
        except psycopg.Error as exc:
            message = f"cannot migrate {self.target.display}: {_reason(exc)}"
            raise StartupError(self.target.scrub(message)) from None
        if applied:
            log.info("migrated %s to schema version %d", self.target.display, applied[-1])
        self._open_done = True

    def _connection(self) -> psycopg.Connection[Any]:
        """This thread's connection, (re)connected if there is none or it broke."""
        raw: psycopg.Connection[Any] | None = getattr(self._local, "raw", None)
        if raw is not None and not raw.closed and not raw.broken:
            return raw
        if raw is not None:
            raw.close()
        raw = psycopg.connect(
            self.target.url or "", autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
        self._local.raw = raw
        with self._opened_lock:
            self._opened = [c for c in self._opened if not c.closed] + [raw]
        return raw

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` in one transaction on a database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, fn, args)

    def _transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if not self._open_done:
            raise RuntimeError("database is not open")
        attempt = 0
        while True:
            attempt += 1
            committing = False
            try:
                raw = self._connection()
                raw.execute(BEGIN)
                try:
                    result = fn(PostgresConn(raw), *args)
                except BaseException:
                    if not raw.broken:
                        raw.rollback()
                    raise
                committing = True
                raw.execute("COMMIT")
                return result
            except RETRYABLE:
                if attempt >= MAX_ATTEMPTS:
                    raise
                self.retries += 1
                time.sleep(random.uniform(0, 0.002 * attempt))
            except psycopg.OperationalError as exc:
                # A connection that broke before COMMIT wrote nothing: reconnect once and run again
                # (after a restart of PostgreSQL each thread's connection is dead). One that broke
                # during COMMIT may or may not have committed; that, or no connection, is a 503.
                if not committing and attempt == 1 and getattr(self._local, "raw", None) is not None:
                    continue
                raise StorageUnavailable(self.target.scrub(_reason(exc))) from None

    async def close(self) -> None:
        """Stop the database threads, then close their connections."""
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for raw in opened:
            raw.close()


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
