"""PostgreSQL through psycopg 3: the same synchronous storage functions, run by a pool of threads.

Each `run(fn, *args)` borrows a connection from a `psycopg_pool.ConnectionPool` on one of
`pool_size` threads and runs `fn` inside one SERIALIZABLE transaction. SERIALIZABLE is what keeps the
check-then-write rules (one active run per thread, run transitions, idempotency keys) atomic with
many writers, as the single writer thread does for SQLite: a transaction that would break them is
aborted by PostgreSQL (SQLSTATE 40001/40P01) and run again from the start here, up to `MAX_ATTEMPTS`
times. Storage functions therefore must not have effects outside the database.

Driver choice, measured on this machine (2 cores shared with other test runs; PostgreSQL 15 on
loopback; 2,000 transactions of one indexed SELECT + one INSERT, 4 at a time; two rounds):
psycopg 3.3 + psycopg_pool, sync in 4 threads: 2,213 / 1,552 tx/s, 445 / 646 µs client CPU per
transaction; asyncpg 0.32, native async, pool of 4: 2,908 / 2,608 tx/s, 330 / 361 µs. asyncpg is
about 1.3-1.7 times faster per transaction, but it would need a second, async copy of every storage
function; psycopg keeps one copy of the storage logic for both backends, and a turn costs the server
a few milliseconds of HTTP and runner work next to these fractions of one (`threadloom bench`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from threadloom.threads_server.storage import migrations
from threadloom.threads_server.storage.connection import Dialect, Result, to_format_style
from threadloom.threads_server.storage.database import Database
from threadloom.threads_server.storage.errors import StartupError, StorageUnavailable
from threadloom.threads_server.storage.target import DatabaseTarget

T = TypeVar("T")
log = logging.getLogger("threads_server.storage")
MAX_ATTEMPTS = 20
CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10.0
RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


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


class PostgresDatabase(Database):
    """A PostgreSQL database named by a `postgresql://` URL."""

    dialect: Dialect = "postgresql"

    def __init__(self, target: DatabaseTarget, *, pool_size: int = 4) -> None:
        assert target.url is not None
        self.target = target
        self._pool_size = pool_size
        self._pool: ConnectionPool[Any] | None = None
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="threadloom-pg")
        self.retries = 0
        """Transactions run again after a serialization failure or deadlock (since start-up)."""

    async def open(self) -> None:
        """Connect once (a clear StartupError if that fails), migrate, then open the pool."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.target.url or "", autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise StartupError(
                self.target.scrub(f"cannot connect to PostgreSQL at {self.target.display}: {reason}")
            ) from None

    def _open(self) -> None:
        with self._connect() as raw:
            try:
                with raw.transaction():
                    raw.execute("SELECT pg_advisory_xact_lock(%s)", (migrations.ADVISORY_LOCK_KEY,))
                    applied = migrations.migrate(PostgresConn(raw))
            except psycopg.Error as exc:
                reason = " ".join(str(exc).split())
                message = f"cannot migrate {self.target.display}: {reason}"
                raise StartupError(self.target.scrub(message)) from None
        if applied:
            log.info("migrated %s to schema version %d", self.target.display, applied[-1])
        self._pool = ConnectionPool(
            self.target.url or "",
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            configure=_configure,
            timeout=POOL_TIMEOUT_SECONDS,
            open=False,
            name="threadloom",
        )
        self._pool.open(wait=True, timeout=POOL_TIMEOUT_SECONDS)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` in one SERIALIZABLE transaction on a pool thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, fn, args)

    def _transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        pool = self._pool
        if pool is None:
            raise RuntimeError("database is not open")
        attempt = 0
        while True:
            attempt += 1
            try:
                with pool.connection() as raw, raw.transaction():
                    return fn(PostgresConn(raw), *args)
            except RETRYABLE:
                if attempt >= MAX_ATTEMPTS:
                    raise
                self.retries += 1
                time.sleep(random.uniform(0, 0.002 * attempt))
            except (psycopg.OperationalError, PoolTimeout) as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise StorageUnavailable(self.target.scrub(reason)) from None

    async def close(self) -> None:
        """Close the pool and stop its threads."""
        if self._pool is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._pool.close)
            self._pool = None
        self._executor.shutdown(wait=True)


def _configure(raw: psycopg.Connection[Any]) -> None:
    raw.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE")
