"""A key rotation does not break a running conversation.

A conversation's first turn runs on a worker whose ring is `k1`; that worker stops, and one with the
rotated ring `k2,k1` takes over: it replays the conversation's history (written under `k1`), runs the
next turn, and writes it under `k2`. Both turns' replies reach the caller.
"""

from __future__ import annotations

import base64
import json
import uuid

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.conversations import close
from threadloom.starter.encryption import KEY_ID_METADATA, KeyRing, encrypted_converter, new_key_entry
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.conversation_contracts import (
    ConversationSummary,
    conversation_workflow_id,
)


def _key_ids(history: object) -> set[str]:
    """The key ids of every encrypted payload in a raw history's JSON."""
    text = json.dumps(history)
    ids = set()
    marker = f'"{KEY_ID_METADATA}": "'
    for part in text.split(marker)[1:]:
        ids.add(base64.b64decode(part.split('"', 1)[0]).decode())
    return ids


async def test_a_running_conversation_survives_a_rotation(
    temporal_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    task_queue: str,
) -> None:
    k1, k2 = new_key_entry("k1"), new_key_entry("k2")

    def loom(ring: str) -> Threadloom:
        client = Client(
            temporal_env.client.service_client,
            namespace=temporal_env.client.namespace,
            data_converter=encrypted_converter(KeyRing.parse(ring)),
        )
        return Threadloom(client, task_queue=task_queue)

    conversation_id = f"rot-{uuid.uuid4().hex[:8]}"
    before, after = loom(k1), loom(f"{k2},{k1}")
    async with build_worker(before.client, threads, task_queue=task_queue):
        first = await before.send(conversation_id, "Before the rotation.", assistant_id=assistant_id)
    async with build_worker(after.client, threads, task_queue=task_queue):
        second = await after.send(conversation_id, "After the rotation.", assistant_id=assistant_id)
        await close(after, conversation_id, "done")
        handle = after.client.get_workflow_handle(
            conversation_workflow_id(conversation_id), result_type=ConversationSummary
        )
        summary = await handle.result()
    assert (first.reply, second.reply) == ("Echo: Before the rotation.", "Echo: After the rotation.")
    assert summary.turns_completed == 2

    raw = await temporal_env.client.get_workflow_handle(handle.id).fetch_history()
    assert _key_ids(raw.to_json_dict()) == {"k1", "k2"}
