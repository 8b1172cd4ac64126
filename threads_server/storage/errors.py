"""Storage errors, translated once from the drivers' own exceptions.

```
StorageError
├── StorageUnavailable   the database cannot be reached now (answered 503, retry later)
├── StartupError         the server must not start: unreachable, refused, schema from a newer version
└── WriteConflict        a compare-and-set found the row changed: the transaction is run again
```
Messages never hold a URL's password (`DatabaseTarget.scrub`).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of the storage errors."""


class StorageUnavailable(StorageError):
    """The database went away (or every connection is busy past the timeout); the request wrote nothing
    that is visible, or its outcome is unknown if the connection broke during COMMIT."""


class WriteConflict(StorageError):
    """A compare-and-set update matched no row: another transaction moved it first. The backend runs
    the whole transaction again, which then sees the new state (never raised out of `Database.run`
    unless it keeps happening)."""


class StartupError(StorageError):
    """The database cannot be used: the message is the one line the server prints before it exits."""
