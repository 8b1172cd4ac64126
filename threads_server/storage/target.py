"""Where the data lives: a SQLite file (the default) or a PostgreSQL URL, and how to name it safely.

`--db` / `THREADLOOM_SERVER_DATABASE_URL` take either. Anything that starts with a URL scheme is a URL,
and only `postgresql://` / `postgres://` are understood: `--db postgresql:/x` or `mysql://…` is an
error, never a SQLite file under a folder named `postgresql:`. A URL's password is never printed:
`display` replaces it, and `scrub` removes it from any message that might quote it (a driver error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


class DatabaseTargetError(ValueError):
    """A `--db` value that is neither a path nor a PostgreSQL URL."""


@dataclass(frozen=True)
class DatabaseTarget:
    """A SQLite `path`, or a PostgreSQL `url` (holding its password: never log it, log `display`)."""

    kind: Literal["sqlite", "postgresql"]
    path: Path | None = None
    url: str | None = None

    @classmethod
    def parse(cls, value: str | Path) -> DatabaseTarget:
        """A path or a `postgresql://` URL; DatabaseTargetError for any other scheme or a bad URL."""
        text = str(value)
        match = _SCHEME.match(text)
        if match is None:
            return cls(kind="sqlite", path=Path(text))
        scheme = match.group(1).lower()
        display = redact(text)
        if scheme not in POSTGRES_SCHEMES:
            raise DatabaseTargetError(
                f"unsupported database URL {display!r}: give a SQLite file path or a postgresql:// URL"
            )
        if not text[len(scheme) + 1 :].startswith("//"):
            raise DatabaseTargetError(
                f"malformed database URL {display!r}: expected postgresql://user:password@host:port/db"
            )
        return cls(kind="postgresql", url=text)

    @property
    def display(self) -> str:
        """The path, or the URL with its password replaced by `***`."""
        return str(self.path) if self.kind == "sqlite" else redact(self.url or "")

    def scrub(self, message: str) -> str:
        """`message` with the URL's password (raw and percent-decoded) replaced by `***`."""
        secret = _password(self.url) if self.url else None
        if not secret:
            return message
        for form in {secret, unquote(secret)}:
            message = message.replace(form, "***")
        return message


def _password(url: str) -> str | None:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    userinfo, at, _ = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def redact(url: str) -> str:
    """The URL with any password in it replaced by `***` (also for URLs urllib cannot split)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)
