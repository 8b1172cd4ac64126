"""Fixtures of the files tests: the server tests' `db` (both backends)."""

from __future__ import annotations

from tests.server.conftest import db

__all__ = ["db"]
