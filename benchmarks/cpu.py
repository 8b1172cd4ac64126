"""CPU time per process of the stack (Linux `/proc`), to show what a batch of turns spends where.

On a 2-core machine the dev server, the threads server, the worker and the benchmark's own clients
compete for the same cores, so CPU milliseconds per turn per process say what bounds throughput.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2 :].split()  # fields from `state` on
    return None


def _name(pid: int) -> str:
    with contextlib.suppress(OSError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [w.decode(errors="replace") for w in cmdline if w]
        if any("temporal" in Path(w).name for w in words[:1]):
            return "temporal dev server"
        if "threadloom.threads_server" in words:
            return "threads server"
        if "threadloom.benchmarks.worker_process" in words:
            return f"worker ({words[words.index('--kind') + 1]})" if "--kind" in words else "worker"
    return f"pid {pid}"


def snapshot() -> dict[str, float]:
    """CPU seconds (user + system) of this process and each of its child processes, by name."""
    me = os.getpid()
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat(pid)
        if fields is None or (pid != me and int(fields[1]) != me):
            continue
        name = "bench clients" if pid == me else _name(pid)
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return found


def per_turn_ms(before: dict[str, float], after: dict[str, float], turns: int) -> dict[str, float]:
    """CPU ms per turn of each process between two snapshots."""
    return {
        name: round((after[name] - before.get(name, 0.0)) * 1000 / max(turns, 1), 1)
        for name in sorted(after)
    }
