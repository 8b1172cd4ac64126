"""Fixtures of the files tests: the server tests' `db` (both backends) and the spec validator."""

from __future__ import annotations

import pytest

from tests.files.spec import FilesSpec
from tests.server.conftest import db

__all__ = ["db", "files_spec"]
_SPEC: FilesSpec | None = None


@pytest.fixture(scope="session")
def files_spec() -> FilesSpec:
    """The Files / Vector Stores spec validator (one per session)."""
    global _SPEC
    if _SPEC is None:
        _SPEC = FilesSpec()
    return _SPEC
