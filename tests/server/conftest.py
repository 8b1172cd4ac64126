"""Fixtures for the server tests: the app in-process with every answer checked against the spec.

`db` is where a test's server keeps its data, once per backend: a SQLite file path (`[sqlite]`) and a
fresh PostgreSQL database URL (`[postgresql]`); `make_api` / `api` use it, and tests that start a
server themselves pass it to `running_server` / `app_client` / `--db`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.server.helpers import Api, validating_hook
from tests.server.spec import REFERENCE, SpecValidator
from threadloom.threads_server.testing import app_client

_VALIDATOR: SpecValidator | None = None


@pytest.fixture(scope="session")
def spec() -> SpecValidator:
    """The spec validator; a missing excerpt fails the tests (docs/reference/PROVENANCE.md)."""
    global _VALIDATOR
    if not (REFERENCE / "assistants-v2.openapi.yaml").exists():
        pytest.fail(f"the spec excerpt is missing from {REFERENCE}: see PROVENANCE.md there")
    if _VALIDATOR is None:
        _VALIDATOR = SpecValidator()
    return _VALIDATOR


ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A SQLite file path, or the URL of a fresh PostgreSQL database (at the current schema)."""
    if request.param == "sqlite":
        return tmp_path / "threads.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def make_api(db: Path | str, spec: SpecValidator) -> ApiFactory:
    """`async with make_api(**settings) as api:` — the app in-process with those settings."""

    @asynccontextmanager
    async def factory(**settings: Any) -> AsyncIterator[Api]:
        settings.setdefault("faults_enabled", True)
        hooks = {"response": [validating_hook(spec)]}
        async with app_client(db, event_hooks=hooks, **settings) as (client, app):
            yield Api(client, app, spec)

    return factory


@pytest.fixture
async def api(make_api: ApiFactory) -> AsyncIterator[Api]:
    """The app in-process with default settings (faults enabled)."""
    async with make_api() as running:
        yield running


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Report how many answers were validated against which schema."""
    if _VALIDATOR is None or not _VALIDATOR.counts:
        return
    terminalreporter.section("spec validation (server)")
    for name, count in sorted(_VALIDATOR.counts.items()):
        terminalreporter.write_line(f"{name}: {count}")
    terminalreporter.write_line(f"total: {sum(_VALIDATOR.counts.values())}")
