"""SQLite: one connection, one writer thread, short transactions (the embedded default).

Every transaction runs on the single database thread within `BEGIN IMMEDIATE … COMMIT`. Serializing
all access through one thread is what makes check-then-write rules (the thread lock, run transitions)
atomic without further locking; the transactions are a handful of indexed statements, so the queue
stays short. `BEGIN IMMEDIATE` also takes the file's write lock, which is what serializes two
processes migrating the same file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from threadloom.threads_server.storage import migrations
from threadloom.threads_server.storage.connection import Dialect, Result
from threadloom.threads_server.storage.database import Database
from threadloom.threads_server.storage.errors import StartupError
from threadloom.threads_server.storage.target import DatabaseTarget

T = TypeVar("T")

# How long a statement waits for another process's lock on the file before failing.
BUSY_TIMEOUT_SECONDS = 5.0


def _switch_to_wal(raw: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode=WAL`, waiting out other processes that open a new file at the same moment.

    Switching a fresh file to WAL needs its exclusive lock, and SQLite answers "database is locked" at
    once, without the busy timeout, when another connection is switching or migrating it just then (it
    would deadlock otherwise). So this retries for as long as the busy timeout would have waited.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class SQLiteConn:
    """A `Conn` over a `sqlite3.Connection` (which already speaks `?`)."""

    dialect: Dialect = "sqlite"

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run one statement."""
        return self.raw.execute(sql, params)

    def lock(self, key: str) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` on the one writer thread already excludes the others."""


class SQLiteDatabase(Database):
    """The server's SQLite file; `:memory:` works for a throwaway database."""

    dialect: Dialect = "sqlite"

    def __init__(self, target: DatabaseTarget) -> None:
        assert target.path is not None
        self.target = target
        self.path = target.path
        self._conn: SQLiteConn | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="threadloom-db")

    async def open(self) -> None:
        """Create the file (and its directory) if needed, switch to WAL, migrate."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _open(self) -> None:
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            raw = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS
            )
            _switch_to_wal(raw)
            raw.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(f"cannot open the SQLite database {self.path}: {exc}") from exc
        self._conn = SQLiteConn(raw)
        try:
            self._transaction(migrations.migrate, ())
        except sqlite3.Error as exc:
            raise StartupError(f"cannot migrate the SQLite database {self.path}: {exc}") from exc

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` in one transaction on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, fn, args)

    def _transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("database is not open")
        conn.raw.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn, *args)
        except BaseException:
            conn.raw.execute("ROLLBACK")
            raise
        conn.raw.execute("COMMIT")
        return result

    async def close(self) -> None:
        """Close the connection and stop the database thread."""
        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.raw.close)
            self._conn = None
        self._executor.shutdown(wait=True)
