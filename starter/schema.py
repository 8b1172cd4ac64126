"""`threadloom schema`: the JSON Schema of what crosses the Temporal boundary, for other languages.

A backend in another language starts `TurnWorkflow` with a `TurnRequest` (JSON, as the pydantic data
converter writes it) and reads a `TurnResult`; a conversation takes `ConversationInput` at start and
`SendTurn` as its `send_turn` update.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel

from threadloom.starter.settings import Settings
from threadloom.workflows.contracts import TurnProgress, TurnRequest, TurnResult
from threadloom.workflows.conversation_contracts import (
    CloseConversation,
    ConversationInput,
    ConversationStatus,
    ConversationSummary,
    SendTurn,
)

MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        TurnRequest,
        TurnResult,
        TurnProgress,
        ConversationInput,
        SendTurn,
        CloseConversation,
        ConversationStatus,
        ConversationSummary,
    )
}
WORKFLOWS = {
    "TurnWorkflow": {
        "input": "TurnRequest",
        "result": "TurnResult",
        "queries": {"progress": "TurnProgress"},
    },
    "ConversationWorkflow": {
        "input": "ConversationInput",
        "result": "ConversationSummary",
        "updates": {
            "send_turn": ["SendTurn", "TurnResult"],
            "close": ["CloseConversation", "ConversationStatus"],
        },
        "queries": {"status": "ConversationStatus"},
    },
}


def schemas() -> dict[str, Any]:
    """Every contract's JSON Schema (validation mode for inputs), plus how workflows use them."""
    return {
        "workflows": WORKFLOWS,
        "schemas": {name: model.model_json_schema() for name, model in MODELS.items()},
    }


async def schema_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print all schemas, or the one named."""
    if args.name:
        model = MODELS.get(args.name)
        if model is None:
            print(f"unknown model {args.name!r}; one of: {', '.join(MODELS)}", file=sys.stderr)
            return 2
        print(json.dumps(model.model_json_schema(), indent=2))
    else:
        print(json.dumps(schemas(), indent=2))
    return 0
