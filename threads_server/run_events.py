"""The shapes of a run's streamed deltas, as the official SDKs accumulate them.

The SDKs add each `*.delta` onto the object its `*.created` event announced: strings are appended,
lists merged by `index`. So a delta carries only what is new, and a `created` event carries nothing a
delta will bring: a tool-call step is announced with an empty `tool_calls` list (as OpenAI does), and
each call follows in one delta; a message is announced empty, and its text follows in deltas.
"""

from __future__ import annotations

import re
from typing import Any


def text_chunks(text: str, words_per_chunk: int) -> list[str]:
    """Split `text` into deltas of a few words; joined, they give `text` back exactly."""
    pieces = re.split(r"(?<=\s)(?=\S)", text)
    size = max(1, words_per_chunk)
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)] or [""]


def tool_call_events(step: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """`created`, `in_progress` (without the calls), then one `delta` per call of a tool-call step."""
    announced = {**step, "step_details": {"type": "tool_calls", "tool_calls": []}}
    events = [("thread.run.step.created", announced), ("thread.run.step.in_progress", announced)]
    for index, call in enumerate(step["step_details"]["tool_calls"]):
        details = {"type": "tool_calls", "tool_calls": [{**call, "index": index}]}
        delta = {"id": step["id"], "object": "thread.run.step.delta", "delta": {"step_details": details}}
        events.append(("thread.run.step.delta", delta))
    return events


def message_delta(message_id: str, chunk: str) -> dict[str, Any]:
    """A `thread.message.delta` adding `chunk` to the text of content part 0."""
    part = {"index": 0, "type": "text", "text": {"value": chunk, "annotations": []}}
    return {"id": message_id, "object": "thread.message.delta", "delta": {"content": [part]}}
