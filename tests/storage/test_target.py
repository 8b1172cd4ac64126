"""`--db` values: a path or a PostgreSQL URL, and a password that no message repeats."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import DatabaseTarget, DatabaseTargetError


def test_paths_and_urls_are_told_apart() -> None:
    assert DatabaseTarget.parse("data/threads.db") == DatabaseTarget(
        "sqlite", path=Path("data/threads.db")
    )
    assert DatabaseTarget.parse(":memory:").kind == "sqlite"
    for url in ("postgresql://u:p@h:5432/db", "postgres://h/db", "POSTGRESQL://h/db"):
        assert DatabaseTarget.parse(url).kind == "postgresql"
    for bad in ("postgresql:/h/db", "postgresql:h", "mysql://u:p@h/db", "sqlite:///x.db"):
        with pytest.raises(DatabaseTargetError):
            DatabaseTarget.parse(bad)


def test_the_password_is_redacted_and_scrubbed() -> None:
    target = DatabaseTarget.parse("postgresql://app:s%40cret@db.example:5432/threads")
    assert target.display == "postgresql://app:***@db.example:5432/threads"
    assert target.scrub("failed for s%40cret and s@cret") == "failed for *** and ***"
    assert DatabaseTarget.parse("postgresql://app@h/db").display == "postgresql://app@h/db"


def test_settings_errors_and_repr_never_hold_the_password() -> None:
    for fields in ({"database_url": "mysql://u:pw-9f1@h/d"}, {"db_path": "postgresql://u:pw-9f1@h/d"}):
        with pytest.raises(ValidationError) as caught:
            ServerSettings(**fields)  # type: ignore[arg-type]
        assert "pw-9f1" not in str(caught.value)
    settings = ServerSettings(database_url=SecretStr("postgresql://u:pw-9f1@h/d"))
    assert "pw-9f1" not in repr(settings)
    assert settings.database.url == "postgresql://u:pw-9f1@h/d"


def test_the_environment_names_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLOOM_SERVER_DATABASE_URL", "postgresql://u:p@h/d")
    assert ServerSettings().database.kind == "postgresql"
    monkeypatch.setenv("THREADLOOM_SERVER_DATABASE_URL", "elsewhere/threads.db")
    assert ServerSettings().database.path == Path("elsewhere/threads.db")
    monkeypatch.delenv("THREADLOOM_SERVER_DATABASE_URL")
    assert ServerSettings().database.path == Path(".threadloom/threads.db")
