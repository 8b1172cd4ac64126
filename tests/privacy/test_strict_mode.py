"""Strict mode: a worker with encryption on does not run a turn whose input is plaintext (a client
without the codec started it), unless `THREADLOOM_ENCRYPTION_ALLOW_PLAINTEXT` says the plaintext is a
history from before encryption being migrated; then the turn runs, and what it writes is encrypted."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from threadloom.starter.api import Threadloom
from threadloom.starter.encryption import ENCODING, data_converter, new_key_entry
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.worker import build_worker
from threadloom.workflows.contracts import TurnRequest, TurnResult, UserMessage

RING = new_key_entry("k1")


def _client(temporal_env: WorkflowEnvironment, settings: Settings | None) -> Client:
    """A client on the test server: plaintext (no codec) for None, else the settings' converter."""
    return Client(
        temporal_env.client.service_client,
        namespace=temporal_env.client.namespace,
        data_converter=pydantic_data_converter if settings is None else data_converter(settings),
    )


def _request(thread_id: str, assistant_id: str) -> TurnRequest:
    return TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="plain as day"),
        turn_key=uuid.uuid4().hex,
    )


async def test_a_strict_worker_refuses_a_plaintext_turn(
    temporal_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    thread_id: str,
    task_queue: str,
) -> None:
    plain = _client(temporal_env, None)
    handle = await Threadloom(plain, task_queue=task_queue).start_turn(_request(thread_id, assistant_id))
    raw = temporal_env.client.get_workflow_handle(handle.workflow_id)
    strict = _client(temporal_env, Settings(encryption_keys=RING))
    async with build_worker(strict, threads, task_queue=task_queue):
        failure = None
        for _ in range(100):
            events = (await raw.fetch_history()).events
            failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
            if failed:
                failure = failed[0].workflow_task_failed_event_attributes.failure
                break
            await asyncio.sleep(0.1)
    await raw.terminate("test over")
    assert failure is not None
    assert "a payload is not encrypted (encoding 'json/plain') but encryption is on" in failure.message
    assert "plain as day" not in failure.message
    assert [m async for m in threads.threads.messages.list(thread_id)] == []  # the turn never ran


async def test_a_migrating_worker_runs_it_and_encrypts_what_it_writes(
    temporal_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    thread_id: str,
    task_queue: str,
) -> None:
    plain = _client(temporal_env, None)
    handle = await Threadloom(plain, task_queue=task_queue).start_turn(_request(thread_id, assistant_id))
    migrating = _client(temporal_env, Settings(encryption_keys=RING, encryption_allow_plaintext=True))
    async with build_worker(migrating, threads, task_queue=task_queue):
        mine = migrating.get_workflow_handle(handle.workflow_id, result_type=TurnResult)
        result = await mine.result()
    assert result.reply == "Echo: plain as day"
    events = (await temporal_env.client.get_workflow_handle(handle.workflow_id).fetch_history()).events
    (completed,) = [
        e.workflow_execution_completed_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    ]
    # the reply the worker wrote is encrypted, though the turn's input was not
    assert [p.metadata["encoding"] for p in completed.result.payloads] == [ENCODING]
