"""Sample the worker with py-spy (the `bench` extra) during a batch and name where its time goes.

`py-spy record --format raw` writes one collapsed stack per line with its sample count; the summary is
the share of samples in which each of a few telling functions appears (inclusive time).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path

WATCHED = {
    "ThreadsClient._send": "Threads API HTTP calls (httpx)",
    "AsyncConnectionPool._assign_requests_to_connections": "httpcore pool scanning connections",
    "AsyncPage._iterate": "paging through tag scans and replies",
    "_WorkflowWorker._handle_activation": "workflow activations (sandbox)",
    "_CommandAwareDataConverter._get_current_dc": "data converter context lookups",
    "ThreadsActivities.add_message": "activity add_message",
    "ThreadsActivities.create_run": "activity create_run",
    "ThreadsActivities.wait_for_run": "activity wait_for_run",
    "ThreadsActivities.fetch_reply": "activity fetch_reply",
}


def py_spy() -> str | None:
    """The py-spy binary beside this Python or on PATH, if installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


async def start(pid: int, seconds: int, out: Path) -> asyncio.subprocess.Process | None:
    """Start sampling `pid` for `seconds` into `out`; None when py-spy is not installed."""
    binary = py_spy()
    if binary is None:
        return None
    return await asyncio.create_subprocess_exec(
        *(binary, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200"),
        *("--format", "raw", "--output", str(out), "--nonblocking"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def summarize(raw: Path) -> dict[str, str]:
    """Share of samples (inclusive) of each watched function in a raw py-spy profile."""
    total, seen = 0, Counter[str]()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        names = {frame.split(" (")[0] for frame in stack.split(";")}
        for name in WATCHED:
            if name in names:
                seen[name] += int(count)
    if not total:
        return {}
    return {f"{WATCHED[name]} ({name})": f"{100 * seen[name] / total:.0f} %" for name in WATCHED}
