"""Storage errors, translated once from the drivers' own exceptions.

```
StorageError
├── StorageUnavailable   the database cannot be reached now (answered 503, retry later)
└── StartupError         the server must not start: unreachable, refused, schema from a newer version
```
Messages never hold a URL's password (`DatabaseTarget.scrub`).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of the storage errors."""


class StorageUnavailable(StorageError):
    """The database went away (or every connection is busy past the timeout); the request wrote nothing
    that is visible, or its outcome is unknown if the connection broke during COMMIT."""


class StartupError(StorageError):
    """The database cannot be used: the message is the one line the server prints before it exits."""
