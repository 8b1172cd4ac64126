"""The options of `threadloom janitor` (a light module: the CLI imports it to build its parser)."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta

from threadloom.workflows.janitor_contracts import DEFAULT_SCHEDULE_ID

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3_600, "d": 86_400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `12h`, `30d` or plain seconds."""
    found = _DURATION.match(text)
    if not found or float(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 15m, 12h or 30d")
    return timedelta(seconds=float(found.group(1)) * _UNIT_SECONDS[found.group(2)])


def human(duration: timedelta) -> str:
    """`30d`, `12h`, `1d 6h`, `90s`: a duration as the options take it."""
    seconds = round(duration.total_seconds())
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if parts and not seconds:
            break
    return " ".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `threadloom janitor`."""
    add = parser.add_argument
    add("--retention", type=parse_duration, help="delete threads idle for longer, e.g. 30d or 12h")
    add("--every", type=parse_duration, default=timedelta(hours=1), help="interval of passes (1h)")
    add("--batch-size", type=int, default=50, help="threads checked at once per batch (50)")
    add("--dry-run", action="store_true", help="passes only count what they would delete")
    add("--schedule-id", default=DEFAULT_SCHEDULE_ID, help=f"schedule id ({DEFAULT_SCHEDULE_ID})")
    add("--once", action="store_true", help="run one pass now and print its counts (no schedule)")
    add("--now", type=datetime.fromisoformat, help="with --once: the pass's 'now' (ISO 8601)")
    add("--remove", action="store_true", help="delete the schedule")
