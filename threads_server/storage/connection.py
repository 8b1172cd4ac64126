"""The one interface every storage function is written against: `conn.execute(sql, params)`.

Storage functions are plain synchronous functions `fn(conn, *args)` that run inside one transaction
(`Database.run`). SQL is written once, with `?` placeholders, in the subset SQLite and PostgreSQL share
(`INSERT … ON CONFLICT … DO UPDATE`, no `INSERT OR REPLACE`); the PostgreSQL connection rewrites the
placeholders. What truly differs per dialect (the schema's column types, locks) lives in
`migrations` and in the backend modules, nowhere else.

`lock(key)` serializes the transactions that touch one thing (a thread, an idempotency key, the
assistants' list) across processes: a transaction-scoped PostgreSQL advisory lock, released at
COMMIT or ROLLBACK; on SQLite a no-op, since its single writer serializes every transaction anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]


class Result(Protocol):
    """What `execute` returns: a DB-API cursor (sqlite3's and psycopg's both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Conn(Protocol):
    """A connection inside a transaction."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run one statement with `?` placeholders."""
        ...

    def lock(self, key: str) -> None:
        """Hold `key` until this transaction ends; another transaction locking it waits."""
        ...


@functools.lru_cache(maxsize=512)
def to_format_style(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled); the SQL here has no `?` in strings."""
    return sql.replace("%", "%%").replace("?", "%s")
