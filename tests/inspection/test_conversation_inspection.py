"""A conversation and its turns are found by the same search attributes, across continue-as-new."""

from __future__ import annotations

import uuid

from temporalio.api.sdk.v1 import WorkflowMetadata

from threadloom.starter.api import Threadloom
from threadloom.starter.conversations import close
from threadloom.workflows.contracts import ASSISTANT_ID, CONVERSATION_ID, THREAD_ID, turn_workflow_id
from threadloom.workflows.conversation_contracts import ConversationLimits, conversation_workflow_id


async def test_conversation_runs_and_turns_carry_the_search_attributes(
    loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    conversation_id = f"insp_{uuid.uuid4().hex[:8]}"
    limits = ConversationLimits(max_turns_per_run=1)  # every turn ends a run: continue-as-new
    for text in ("first secret words", "second secret words"):
        await loom.send(
            conversation_id, text, assistant_id=assistant_id, thread_id=thread_id, limits=limits
        )
    await close(loom, conversation_id)
    await loom.client.get_workflow_handle(conversation_workflow_id(conversation_id)).result()

    found = [e async for e in loom.client.list_workflows(f'ThreadId="{thread_id}"')]
    by_type: dict[str, int] = {}
    for execution in found:
        by_type[execution.workflow_type] = by_type.get(execution.workflow_type, 0) + 1
        attributes = execution.typed_search_attributes
        assert attributes.get(THREAD_ID) == thread_id
        assert attributes.get(ASSISTANT_ID) == assistant_id
        assert attributes.get(CONVERSATION_ID) == conversation_id
        assert not any("secret" in str(pair.value) for pair in attributes)
    assert by_type == {"ConversationWorkflow": 3, "TurnWorkflow": 2}
    by_conversation = loom.client.list_workflows(f'ConversationId="{conversation_id}"')
    assert len([e async for e in by_conversation]) == 5


async def test_a_conversation_shows_what_it_does_and_its_turns_show_where_they_write(
    loom: Threadloom, engine_worker: None, thread_id: str, assistant_id: str
) -> None:
    conversation_id = f"insp_{uuid.uuid4().hex[:8]}"
    await loom.send(
        conversation_id, "hello there", assistant_id=assistant_id, thread_id=thread_id, turn_key="k1"
    )
    handle = loom.client.get_workflow_handle(conversation_workflow_id(conversation_id))

    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details == f"waiting for a turn · 0 queued · 1 done · thread `{thread_id}`"
    child = await loom.client.get_workflow_handle(turn_workflow_id(thread_id, "k1")).describe()
    assert await child.static_summary() == "hello there"
    details = await child.static_details() or ""
    for part in (thread_id, assistant_id, "k1", conversation_id):
        assert f"`{part}`" in details
    await close(loom, conversation_id)
