"""The reply of a run, read from the thread's messages.

Two ways in. `reply_of` takes the run's own messages in order (the `run_id`-filtered list, as before
the user message was posted with the run). `reply_beside` takes the thread's messages newest first
and walks back to the turn's user message (posted with the run, tagged with the turn key): every
message after it is in that page, so the run's messages are all there, and the user message's id
comes with them. That page is what threadloom's server sends beside a run that has ended
(`threadloom_messages`), and the first page of a newest-first scan anywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from threadloom.activities.snapshots import as_dict, tags_of
from threadloom.workflows.activity_contracts import FetchReplyOutput
from threadloom.workflows.contracts import TURN_KEY_TAG

REPLY_PAGE = 20
"""Messages asked for beside an ended run: the user message and a few replies fit easily."""


def reply_of(messages: Iterable[Any], *, user_message_id: str | None = None) -> FetchReplyOutput:
    """The reply made of the assistant messages among `messages` (oldest first)."""
    texts: list[str] = []
    content: list[dict[str, Any]] = []
    ids: list[str] = []
    for message in messages:
        if message.role != "assistant":
            continue
        ids.append(message.id)
        for part in message.content or []:
            part_dict = as_dict(part)
            content.append(part_dict)
            if part_dict.get("type") == "text":
                texts.append(str(as_dict(part_dict.get("text")).get("value", "")))
    return FetchReplyOutput(
        text="\n\n".join(texts), content=content, message_ids=ids, user_message_id=user_message_id
    )


def reply_beside(newest_first: Iterable[Any], run_id: str, turn_key: str) -> FetchReplyOutput | None:
    """The run's reply and the turn's user message id, if `newest_first` reaches that message."""
    own: list[Any] = []
    for message in newest_first:
        if _is_turn_message(message, turn_key):
            return reply_of(reversed(own), user_message_id=message.id)
        if message.run_id == run_id:
            own.append(message)
    return None


async def scan_reply(
    newest_first: AsyncIterable[Any], run_id: str, turn_key: str, not_before: int
) -> FetchReplyOutput:
    """Like `reply_beside` over every page, back to `not_before` (Unix s).

    Without the user message in that range (deleted, say), the run's messages still make the reply.
    """
    own: list[Any] = []
    async for message in newest_first:
        if _is_turn_message(message, turn_key):
            return reply_of(reversed(own), user_message_id=message.id)
        if message.created_at < not_before:
            break
        if message.run_id == run_id:
            own.append(message)
    return reply_of(reversed(own))


def _is_turn_message(message: Any, turn_key: str) -> bool:
    return bool(message.role == "user" and tags_of(message).get(TURN_KEY_TAG) == turn_key)
