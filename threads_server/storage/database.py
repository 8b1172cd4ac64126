"""The `Database` every part of the server uses: `await db.run(fn, *args)` runs `fn(conn, *args)` in one
transaction, on whichever backend the target names (`open_database`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from threadloom.threads_server.storage.connection import Dialect
from threadloom.threads_server.storage.target import DatabaseTarget

T = TypeVar("T")


class Database(ABC):
    """A backend: open (connect + migrate), run transactions, close."""

    dialect: Dialect
    target: DatabaseTarget

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply the missing migrations; StartupError if the database cannot be used."""

    @abstractmethod
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in one transaction (rolled back if `fn` raises)."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection and stop the backend's threads."""


def open_database(target: DatabaseTarget, *, pool_size: int = 4) -> Database:
    """The backend for `target` (not opened yet)."""
    if target.kind == "postgresql":
        from threadloom.threads_server.storage.postgres import PostgresDatabase

        return PostgresDatabase(target, pool_size=pool_size)
    from threadloom.threads_server.storage.sqlite import SQLiteDatabase

    return SQLiteDatabase(target)
