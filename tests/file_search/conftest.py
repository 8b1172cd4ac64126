"""Fixtures of the file_search tests: the server tests' `db` (both backends), `make_api`, `api`."""

from __future__ import annotations

from tests.server.conftest import api, db, make_api, spec

__all__ = ["api", "db", "make_api", "spec"]
