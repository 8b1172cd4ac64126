"""The typed events of a streamed turn (`Threadloom.stream_turn`, `stream_events`, `stream_send`).

Every event has an `offset`: 0-based and strictly increasing within one turn, the same for every
subscriber of that turn, so a subscriber that lost its connection passes the last offset it saw as
`after` and gets every later event once.

The invariant a consumer may rely on: the `text` of the `TextDelta`s after the last `RunRestarted`,
joined, equals `TurnFinished.result.reply` exactly. A `RunRestarted` says "discard the text so far"
(a stuck or failed run was replaced, or the text could not be streamed whole and follows again).
`NotStreamed` says the Threads API cannot stream this turn: the whole reply follows as one
`TextDelta` when the turn ends. `TurnFinished` is always the last event of a turn that replied; a
turn that failed ends its stream by raising its `TurnError` subclass instead.

```python
async for event in loom.stream_turn(request):
    if isinstance(event, RunRestarted):
        shown = ""
    elif isinstance(event, TextDelta):
        shown += event.text
    elif isinstance(event, TurnFinished):
        assert shown == event.result.reply
```
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from threadloom.starter.errors import TurnError
from threadloom.workflows.contracts import TurnResult


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, in message `message_id`."""

    offset: int
    message_id: str
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The run asked for a call of tool `name`; the engine runs it as an activity."""

    offset: int
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolCallFinished:
    """The output of tool call `call_id` was handed to the run."""

    offset: int
    call_id: str
    name: str
    output: str


@dataclass(frozen=True)
class RunStatus:
    """Run `run_id` is now `status` (`queued`, `in_progress`, `requires_action`, `completed`, ...)."""

    offset: int
    run_id: str
    status: str


@dataclass(frozen=True)
class RunRestarted:
    """Discard the text so far: run `run_id` replaces what came before (`reason` says why)."""

    offset: int
    run_id: str
    reason: str


@dataclass(frozen=True)
class Resumed:
    """The worker carrying the turn was lost and another took it over (`reason`); nothing was lost
    or repeated. A live notice: `offset` is that of the event before it, and a reconnect does not
    see it again."""

    offset: int
    reason: str


@dataclass(frozen=True)
class NotStreamed:
    """This Threads API cannot stream the turn (`reason`); the reply follows whole, then the end."""

    offset: int
    reason: str


@dataclass(frozen=True)
class TurnFinished:
    """The turn's reply: the last event of its stream."""

    offset: int
    result: TurnResult


TurnEvent = (
    TextDelta
    | ToolCallStarted
    | ToolCallFinished
    | RunStatus
    | RunRestarted
    | Resumed
    | NotStreamed
    | TurnFinished
)

EVENT_TYPES: dict[str, type[Any]] = {
    "text_delta": TextDelta,
    "tool_call_started": ToolCallStarted,
    "tool_call_finished": ToolCallFinished,
    "run_status": RunStatus,
    "run_restarted": RunRestarted,
    "resumed": Resumed,
    "not_streamed": NotStreamed,
    "turn_finished": TurnFinished,
}
"""The `type` of each event in its JSON form."""
_TYPE_NAMES = {cls: name for name, cls in EVENT_TYPES.items()}


class StreamError(TurnError):
    """A stream that cannot be given: unknown turn, an offset past the turn's end, ...

    `type` is `StreamError`; `details` may name the `workflow_id` and the `after` offset asked for.
    """

    error_type = "StreamError"


def event_type(event: TurnEvent) -> str:
    """The `type` name of `event` (`"text_delta"`, ...)."""
    return _TYPE_NAMES[type(event)]


def event_to_json(event: TurnEvent) -> dict[str, Any]:
    """`{"type": "text_delta", "offset": 3, ...}`; a `TurnFinished` carries `result` as JSON."""
    if isinstance(event, TurnFinished):
        return {
            "type": "turn_finished",
            "offset": event.offset,
            "result": event.result.model_dump(mode="json"),
        }
    return {"type": event_type(event), **asdict(event)}


def event_from_json(data: dict[str, Any]) -> TurnEvent:
    """The event `event_to_json` gave `data` for.

    Raises:
        ValueError: `data` is not such an event (unknown `type`, missing fields).
    """
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown turn event type {data.get('type')!r}")
    names = [field.name for field in fields(cls)]
    missing = [name for name in names if name not in data]
    if missing:
        raise ValueError(f"{data.get('type')} event without {', '.join(missing)}")
    values = {name: data[name] for name in names}
    if cls is TurnFinished:
        values["result"] = TurnResult.model_validate(values["result"])
    event: TurnEvent = cls(**values)
    return event


def with_offset(event: TurnEvent, offset: int) -> TurnEvent:
    """`event` at `offset` (the stream numbers events as it yields them)."""
    values = {field.name: getattr(event, field.name) for field in fields(event)}
    values["offset"] = offset
    moved: TurnEvent = type(event)(**values)
    return moved
