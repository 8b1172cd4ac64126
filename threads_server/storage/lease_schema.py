"""Schema version 3: run leases (`leases.py`) and the spill table of large replica events.

Kept apart from `migrations.py` so that the version list stays one line per version; statements use
that module's `{seq}` / `{float}` placeholders. Both dialects get the columns; only PostgreSQL
replicas use them.
"""

from __future__ import annotations

LEASE_MIGRATION: tuple[str, ...] = (
    "ALTER TABLE runs ADD COLUMN lease_owner TEXT",
    "ALTER TABLE runs ADD COLUMN lease_expires_at {float}",
    "ALTER TABLE runs ADD COLUMN deadline {float}",
    "CREATE INDEX IF NOT EXISTS runs_lease ON runs (status, lease_expires_at)",
    # Events too large for one NOTIFY payload travel through this table (replica_events.py).
    "CREATE TABLE IF NOT EXISTS run_event_spill ("
    " seq {seq}, payload TEXT NOT NULL, created_at {float} NOT NULL)",
)
