"""Fixtures for the storage tests: an empty database per backend (nothing migrated yet)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer


@pytest.fixture(params=("sqlite", "postgresql"))
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A `--db` value naming a database with no tables: a new SQLite path, or an empty PostgreSQL one."""
    if request.param == "sqlite":
        yield str(tmp_path / "threads.db")
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)
