"""Tools of the tool tests (a `python worker.py` subprocess serves them via THREADLOOM_TOOLS)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

from threadloom.activities.tools import ToolRegistry
from threadloom.starter.demo_tools import get_weather

registry = ToolRegistry()
registry.register(get_weather)
CALLS: Counter[str] = Counter()
NOTES_FILE = "THREADLOOM_TEST_TOOL_NOTES"


@registry.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@registry.tool()
async def lookup(key: str) -> dict[str, str]:
    """Look a key up (async)."""
    await asyncio.sleep(0.01)
    return {"key": key, "value": key.upper()}


@registry.tool(retries=2, retry_interval=0.05)
def flaky(key: str) -> str:
    """Fails twice per key, then answers."""
    CALLS[key] += 1
    if CALLS[key] < 3:
        raise ConnectionError(f"flaky attempt {CALLS[key]}")
    return f"ok after {CALLS[key]} attempts"


@registry.tool(retries=1, retry_interval=0.05)
def broken(key: str) -> str:
    """Always fails; the error text becomes the output."""
    CALLS[f"broken:{key}"] += 1
    raise RuntimeError("the backend is down")


@registry.tool(retries=1, retry_interval=0.05, on_error="fail")
def critical(key: str) -> str:
    """Always fails; the turn fails with it."""
    CALLS[f"critical:{key}"] += 1
    raise RuntimeError("the ledger is unreachable")


@registry.tool(timeout=30, retries=3, heartbeat=1.5, retry_interval=0.1)
def slow_note(note: str) -> str:
    """Record `note` in the notes file, then work for 3 s (a worker may die meanwhile)."""
    path = Path(os.environ[NOTES_FILE])
    with path.open("a") as notes:
        notes.write(f"{note}\n")
    time.sleep(3)
    return f"noted {note}"


SIBLINGS: dict[str, str] = {}
"""What `slow_sibling` got to do, by key: `started`, `finished` or `cancelled`."""


@registry.tool(timeout=30, heartbeat=1.0)
async def slow_sibling(key: str) -> str:
    """Work for 8 s beside other calls; notes whether it finished or was cancelled."""
    SIBLINGS[key] = "started"
    try:
        await asyncio.sleep(8)
    except asyncio.CancelledError:
        SIBLINGS[key] = "cancelled"
        raise
    SIBLINGS[key] = "finished"
    return "done"
