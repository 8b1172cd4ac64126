"""Streamed turns against threadloom's server: events in order, and the invariant holds."""

from __future__ import annotations

import uuid

from threadloom.starter.api import Threadloom
from threadloom.starter.stream_events import (
    Resumed,
    RunRestarted,
    RunStatus,
    TextDelta,
    TurnEvent,
    TurnFinished,
)
from threadloom.workflows.contracts import RunOverrides, TurnPolicy, TurnRequest, UserMessage


def check_invariant(events: list[TurnEvent]) -> str:
    """The text deltas after the last restart, joined, are the reply exactly; offsets increase
    (a `Resumed` notice carries the offset of the event before it)."""
    offsets = [event.offset for event in events if not isinstance(event, Resumed)]
    assert offsets == sorted(set(offsets)), offsets
    assert isinstance(events[-1], TurnFinished)
    text = ""
    for event in events:
        if isinstance(event, RunRestarted):
            text = ""
        elif isinstance(event, TextDelta):
            text += event.text
    assert text == events[-1].result.reply
    return text


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def request(
    thread_id: str, assistant_id: str, text: str, *, policy: TurnPolicy | None = None, **metadata: str
) -> TurnRequest:
    """A turn with its own key (so the test knows its workflow id) and run metadata."""
    return TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        run=RunOverrides(metadata=metadata),
        policy=policy or TurnPolicy(),
        turn_key=uuid.uuid4().hex,
    )


async def test_streamed_turn_arrives_in_order(
    streaming_loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    text = words(40)
    turn = request(thread_id, assistant_id, text, echo_chunk_delay_ms="5")
    events = [event async for event in streaming_loom.stream_turn(turn)]
    assert check_invariant(events) == f"Echo: {text}"
    deltas = [event for event in events if isinstance(event, TextDelta)]
    assert len(deltas) > 5  # streamed in pieces, not as one
    statuses = [event.status for event in events if isinstance(event, RunStatus)]
    assert statuses[-1] == "completed"
    assert not any(isinstance(event, RunRestarted) for event in events)


async def test_reconnect_from_an_offset_gets_every_later_event_once(
    streaming_loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    turn = request(thread_id, assistant_id, words(60), echo_chunk_delay_ms="10")
    first: list[TurnEvent] = []
    async for event in streaming_loom.stream_turn(turn):
        first.append(event)
        if sum(isinstance(e, TextDelta) for e in first) == 3:
            break  # the connection drops mid-reply
    rest = [
        event async for event in streaming_loom.stream_events(turn.workflow_id, after=first[-1].offset)
    ]
    assert rest[0].offset == first[-1].offset + 1
    check_invariant(first + rest)
    # A second subscriber from the start sees the very same events.
    again = [event async for event in streaming_loom.stream_events(turn.workflow_id)]
    assert again == first + rest


async def test_a_conversation_turn_streams(
    streaming_loom: Threadloom, engine_worker: None, assistant_id: str
) -> None:
    conversation = f"stream-{uuid.uuid4().hex[:8]}"
    events = [
        event
        async for event in streaming_loom.stream_send(
            conversation, words(30), assistant_id=assistant_id, metadata={"echo_chunk_delay_ms": "2"}
        )
    ]
    assert check_invariant(events) == f"Echo: {words(30)}"
    assert sum(isinstance(event, TextDelta) for event in events) > 3
