"""`threadloom history WORKFLOW_ID [-o FILE]`: export a workflow's history as JSON.

The file has the shape `temporal workflow show --output json` writes (`{"events": [...]}` in the
protobuf JSON mapping), so `WorkflowHistory.from_json` and `threadloom replay FILE` load it, and the
Temporal CLI and UI tools read it too.

Encrypted payloads are written as stored, so the file stays private and replays with the key ring;
`--decode` writes them decrypted instead (for reading: the file then holds the conversation's text).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadCodec

from threadloom.starter.api import connect_client
from threadloom.starter.encryption import EncryptionCodec
from threadloom.starter.settings import Settings


async def fetch_history(client: Client, workflow_id: str, run_id: str | None = None) -> WorkflowHistory:
    """The history of one run of `workflow_id` (the latest run unless `run_id` is given)."""
    return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()


def history_json(history: WorkflowHistory) -> str:
    """The history as indented JSON, ending in a newline (stable, diff-friendly files)."""
    return json.dumps(history.to_json_dict(), indent=2, sort_keys=True) + "\n"


def write_history(path: Path, history: WorkflowHistory) -> None:
    """Write `history` to `path` as `history_json` formats it."""
    path.write_text(history_json(history), encoding="utf-8")


def load_history(path: Path, workflow_id: str | None = None) -> WorkflowHistory:
    """A history file written by `threadloom history` or `temporal workflow show --output json`.

    The JSON holds no workflow id, so the file name (without `.json`) stands in for it.
    """
    return WorkflowHistory.from_json(workflow_id or path.stem, path.read_text(encoding="utf-8"))


async def decode_payloads(message: Message, codec: PayloadCodec) -> None:
    """Decode, in place, every payload inside `message` (events, failures, metadata, headers)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.full_name == Payload.DESCRIPTOR.full_name and not _repeated(field):
            value.CopyFrom((await codec.decode([value]))[0])
        elif _is_map(field):
            entry = field.message_type.fields_by_name["value"]
            if entry.message_type is None:
                continue
            for key in list(value):
                if entry.message_type.full_name == Payload.DESCRIPTOR.full_name:
                    value[key].CopyFrom((await codec.decode([value[key]]))[0])
                else:
                    await decode_payloads(value[key], codec)
        elif _repeated(field):
            if field.message_type.full_name == Payload.DESCRIPTOR.full_name:
                decoded = await codec.decode(list(value))
                del value[:]
                value.extend(decoded)
            else:
                for item in value:
                    await decode_payloads(item, codec)
        else:
            await decode_payloads(value, codec)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _is_map(field: FieldDescriptor) -> bool:
    entry = field.message_type
    return _repeated(field) and entry is not None and bool(entry.GetOptions().map_entry)


async def history_command(args: argparse.Namespace, settings: Settings) -> int:
    """Write the history of `args.workflow_id` to `args.output`, or to stdout (`--decode`: decrypted)."""
    client = await connect_client(settings)
    history = await fetch_history(client, args.workflow_id, args.run_id)
    codec = client.data_converter.payload_codec
    if isinstance(codec, EncryptionCodec):  # a display: search attributes are plaintext by design
        codec = EncryptionCodec(codec.ring, allow_plaintext=True)
    if getattr(args, "decode", False) and codec is not None:
        for event in history.events:
            await decode_payloads(event, codec)
    if args.output:
        write_history(Path(args.output), history)
        print(f"{args.workflow_id}: {len(history.events)} events -> {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(history_json(history))
    return 0
