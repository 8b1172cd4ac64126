"""Showing a streamed turn at a terminal: `threadloom send --stream` and `threadloom chat`.

The reply's text goes to `out` as it arrives; what is not the reply (tool calls, a run replaced, a
Threads API that cannot stream) goes to `notes`, so `out` holds the reply alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TextIO

from threadloom.starter.errors import TurnError
from threadloom.starter.stream_events import (
    NotStreamed,
    Resumed,
    RunRestarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnEvent,
    TurnFinished,
    event_to_json,
)
from threadloom.workflows.contracts import TurnResult


async def render(
    events: AsyncIterator[TurnEvent], *, out: TextIO, notes: TextIO, prefix: str = ""
) -> TurnResult:
    """Print the turn's text as it streams (after `prefix`); return its result.

    A replaced run starts the text again on a new line, after a note saying so.

    Raises:
        TurnError: the turn failed (after what streamed before, its line ended).
    """
    line = _Line(out, prefix)
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                line.write(event.text)
            elif isinstance(event, TurnFinished):
                line.write("")
                line.end()
                return event.result
            else:
                note = _note_of(event)
                if isinstance(event, RunRestarted):
                    line.end()
                if note:
                    notes.write(note + "\n")
                    notes.flush()
    except TurnError:
        line.end()
        raise
    raise TurnError("the turn's stream ended without its result")


class _Line:
    """The reply's line: `prefix` before its first text, a newline to end it."""

    def __init__(self, out: TextIO, prefix: str) -> None:
        self._out, self._prefix, self._open = out, prefix, False

    def write(self, text: str) -> None:
        if not self._open:
            self._out.write(self._prefix)
            self._open = True
        self._out.write(text)
        self._out.flush()

    def end(self) -> None:
        if self._open:
            self._out.write("\n")
            self._out.flush()
            self._open = False


def _note_of(event: TurnEvent) -> str | None:
    if isinstance(event, RunRestarted):
        return f"[run restarted: {event.reason}; the reply starts again]"
    if isinstance(event, ToolCallStarted):
        return f"[tool {event.name}({event.arguments})]"
    if isinstance(event, ToolCallFinished):
        return f"[tool {event.name} → {_short(event.output)}]"
    if isinstance(event, NotStreamed | Resumed):
        return f"[{event.reason}]"
    return None


async def json_lines(events: AsyncIterator[TurnEvent], *, out: TextIO) -> TurnResult:
    """Print each event as one line of JSON (`event_to_json`); return the turn's result."""
    async for event in events:
        out.write(json.dumps(event_to_json(event)) + "\n")
        out.flush()
        if isinstance(event, TurnFinished):
            return event.result
    raise TurnError("the turn's stream ended without its result")


def _short(text: str, longest: int = 80) -> str:
    return text if len(text) <= longest else text[: longest - 1] + "…"
