"""The server's storage: one set of storage functions, two backends (SQLite, PostgreSQL).

```
routes / runner ──► await db.run(fn, *args) ──► fn(conn, *args) in one transaction
                     Database (database.py)       storage functions, one module per resource:
                     ├── SQLiteDatabase            assistants, threads, messages, runs, steps,
                     │   one writer thread          run_progress (the runner's transitions),
                     └── PostgresDatabase           idempotency_keys; rows (shared row helpers)
                         psycopg, a connection     written against `Conn` (connection.py): `?` SQL
                         per thread, locks + CAS   in the dialects' common subset
```
`open_database(DatabaseTarget.parse(value))` picks the backend from a path or a `postgresql://` URL;
`migrations` versions the schema of both. This package imports no resource module on its own, so
that `threads_server.errors` can import `storage.errors` without a cycle.
"""

from __future__ import annotations

from threadloom.threads_server.storage.connection import Conn, Dialect
from threadloom.threads_server.storage.database import Database, open_database
from threadloom.threads_server.storage.errors import StartupError, StorageError, StorageUnavailable
from threadloom.threads_server.storage.target import DatabaseTarget, DatabaseTargetError

__all__ = [
    "Conn",
    "Database",
    "DatabaseTarget",
    "DatabaseTargetError",
    "Dialect",
    "StartupError",
    "StorageError",
    "StorageUnavailable",
    "open_database",
]
