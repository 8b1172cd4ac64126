"""What an operator sees of a turn: search attributes, summary, details, activity summaries, progress."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from threadloom.starter.api import Threadloom
from threadloom.starter.errors import TurnCancelled
from threadloom.workflows.contracts import (
    ASSISTANT_ID,
    CONVERSATION_ID,
    THREAD_ID,
    RunOverrides,
    TurnPolicy,
    TurnRequest,
    UserMessage,
)

SECRET_WORDS = "my passport number is X1234567 and please keep it private"


def activity_summaries(history: WorkflowHistory) -> list[str]:
    """The summaries of the activities (local ones included) in the order they were scheduled."""
    summaries = []
    for event in history.events[1:]:  # the first event carries the workflow's own summary
        if event.user_metadata.HasField("summary"):
            summaries.append(
                pydantic_data_converter.payload_converter.from_payload(event.user_metadata.summary, str)
            )
    return summaries


async def current_details(client: Client, workflow_id: str) -> str:
    handle = client.get_workflow_handle(workflow_id)
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_turn_is_findable_and_explains_itself(
    loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    request = TurnRequest(
        turn_key=uuid.uuid4().hex,
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=SECRET_WORDS),
        conversation_id="conv_inspect",
    )
    await loom.run_turn(request)
    client = loom.client

    found = [e.id async for e in client.list_workflows(f'ThreadId="{thread_id}"')]
    assert found == [request.workflow_id]
    description = await client.get_workflow_handle(request.workflow_id).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(THREAD_ID) == thread_id
    assert attributes.get(ASSISTANT_ID) == assistant_id
    assert attributes.get(CONVERSATION_ID) == "conv_inspect"
    for pair in attributes:  # message text never goes into (unencrypted) search attributes
        assert "passport" not in str(pair.value)

    assert await description.static_summary() == "my passport number is X1234567 and please keep …"
    details = await description.static_details() or ""
    assert thread_id in details and assistant_id in details and request.turn_key in details

    history = await client.get_workflow_handle(request.workflow_id).fetch_history()
    summaries = activity_summaries(history)
    # An instant run usually ends by the read right after its creation, which carries the reply;
    # a client that has not heard yet that the server long-polls waits (and gets it then).
    assert summaries[0] == "create run (attempt 1/3) with the user message"
    assert [s.split(" run_")[0] for s in summaries[1:]] in ([], ["wait for run"])


async def test_in_flight_turn_shows_phase_attempt_and_run(
    loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    request = TurnRequest(
        turn_key=uuid.uuid4().hex,
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="stall for a moment"),
        run=RunOverrides(metadata={"fault": "stall"}),
        policy=TurnPolicy(run_deadline_seconds=30),
    )
    handle = await loom.start_turn(request)
    try:
        for _ in range(200):
            progress = await handle.progress()
            if progress.phase == "waiting":
                break
            await asyncio.sleep(0.05)
        assert progress.attempt == 1 and progress.run_id is not None
        details = await current_details(loom.client, request.workflow_id)
        assert details == f"waiting · attempt 1 · run {progress.run_id}"
    finally:
        await handle.cancel()
    with pytest.raises(TurnCancelled):
        await handle.result()


async def test_started_without_attributes_still_gets_them(
    loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str, task_queue: str
) -> None:
    """A turn started by another client (no search attributes) sets them itself."""
    request = TurnRequest(
        turn_key=uuid.uuid4().hex,
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text="bare start"),
    )
    handle: Any = await loom.client.start_workflow(
        "TurnWorkflow", request, id=request.workflow_id, task_queue=task_queue
    )
    await handle.result()
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(THREAD_ID) == thread_id
    assert attributes.get(ASSISTANT_ID) == assistant_id
