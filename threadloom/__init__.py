"""threadloom: durable assistant conversations on Temporal, with a self-hosted Threads API server.

    from threadloom import Threadloom, TurnRequest, UserMessage

    loom = await Threadloom.connect()
    result = await loom.send("ticket-42", "Where is my order?", assistant_id="asst_…")

The parts are subpackages, each a top-level folder of the repository: `threadloom.workflows`
(deterministic workflow code and the contracts), `threadloom.activities`, `threadloom.starter` (the
backend API and the command line), `threadloom.threads_client`, `threadloom.threads_server`,
`threadloom.benchmarks`, and `threadloom.worker`.

The names below are imported on first use, not with the package: workflow code runs in Temporal's
sandbox, which imports `threadloom` afresh for every workflow run and must not pull in the client,
the server or the CLI with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from threadloom.activities.tools import ToolRegistry
    from threadloom.starter.api import Threadloom, TurnHandle
    from threadloom.starter.errors import (
        AssistantNotFound,
        ConversationNotFound,
        ConversationRestarting,
        InvalidRequest,
        RunCancelled,
        RunExpired,
        RunFailed,
        RunRequiresAction,
        RunTimedOut,
        TemporalUnavailable,
        ThreadBusy,
        ThreadNotFound,
        ThreadsUnavailable,
        ToolFailed,
        TurnCancelled,
        TurnError,
        TurnOutcomeUnknown,
    )
    from threadloom.starter.settings import Settings
    from threadloom.starter.stream_events import (
        NotStreamed,
        Resumed,
        RunRestarted,
        RunStatus,
        StreamError,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        TurnFinished,
        event_from_json,
        event_to_json,
    )
    from threadloom.threads_client import ThreadsClient
    from threadloom.workflows.contracts import (
        PollSettings,
        RunOverrides,
        TurnPolicy,
        TurnRequest,
        TurnResult,
        UserMessage,
    )
    from threadloom.workflows.conversation_contracts import ConversationLimits

_ERRORS = "threadloom.starter.errors"
_CONTRACTS = "threadloom.workflows.contracts"
_STREAMS = "threadloom.starter.stream_events"
_HOMES = {
    "AssistantNotFound": _ERRORS,
    "ConversationLimits": "threadloom.workflows.conversation_contracts",
    "ConversationNotFound": _ERRORS,
    "ConversationRestarting": _ERRORS,
    "InvalidRequest": _ERRORS,
    "PollSettings": _CONTRACTS,
    "RunCancelled": _ERRORS,
    "RunExpired": _ERRORS,
    "RunFailed": _ERRORS,
    "RunOverrides": _CONTRACTS,
    "RunRequiresAction": _ERRORS,
    "RunTimedOut": _ERRORS,
    "Settings": "threadloom.starter.settings",
    "TemporalUnavailable": _ERRORS,
    "ThreadBusy": _ERRORS,
    "ThreadNotFound": _ERRORS,
    "Threadloom": "threadloom.starter.api",
    "ThreadsClient": "threadloom.threads_client",
    "ThreadsUnavailable": _ERRORS,
    "ToolFailed": _ERRORS,
    "ToolRegistry": "threadloom.activities.tools",
    "TurnCancelled": _ERRORS,
    "TurnError": _ERRORS,
    "TurnHandle": "threadloom.starter.api",
    "TurnOutcomeUnknown": _ERRORS,
    "TurnPolicy": _CONTRACTS,
    "TurnRequest": _CONTRACTS,
    "TurnResult": _CONTRACTS,
    "UserMessage": _CONTRACTS,
    "NotStreamed": _STREAMS,
    "Resumed": _STREAMS,
    "RunRestarted": _STREAMS,
    "RunStatus": _STREAMS,
    "StreamError": _STREAMS,
    "TextDelta": _STREAMS,
    "ToolCallFinished": _STREAMS,
    "ToolCallStarted": _STREAMS,
    "TurnFinished": _STREAMS,
    "event_from_json": _STREAMS,
    "event_to_json": _STREAMS,
}

__all__ = [
    "AssistantNotFound",
    "ConversationLimits",
    "ConversationNotFound",
    "ConversationRestarting",
    "InvalidRequest",
    "NotStreamed",
    "PollSettings",
    "Resumed",
    "RunCancelled",
    "RunExpired",
    "RunFailed",
    "RunOverrides",
    "RunRequiresAction",
    "RunRestarted",
    "RunStatus",
    "RunTimedOut",
    "Settings",
    "StreamError",
    "TemporalUnavailable",
    "TextDelta",
    "ThreadBusy",
    "ThreadNotFound",
    "Threadloom",
    "ThreadsClient",
    "ThreadsUnavailable",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolFailed",
    "ToolRegistry",
    "TurnCancelled",
    "TurnError",
    "TurnFinished",
    "TurnHandle",
    "TurnOutcomeUnknown",
    "TurnPolicy",
    "TurnRequest",
    "TurnResult",
    "UserMessage",
    "event_from_json",
    "event_to_json",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'threadloom' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once found, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
