"""The tests' real PostgreSQL: `PostgresServer` lives in `threadloom.benchmarks.local_postgres`, which
the benchmark uses too; `tests/conftest.py` starts one per session (`postgres`, `postgres_url`)."""

from __future__ import annotations

from threadloom.benchmarks.local_postgres import BIN_DIRS, PostgresServer, find_bin_dir

__all__ = ["BIN_DIRS", "PostgresServer", "find_bin_dir"]
