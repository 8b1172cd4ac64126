"""With encryption on, no user text and no reply sits in plain sight in Temporal.

A turn, a conversation turn and a turn whose tool fails quoting its argument run on the real dev
server with the encrypting client and worker; the raw histories and descriptions, exported by the
`temporal` CLI (which has no codec), hold neither the user's text nor the reply, in plain text or in
base64. The same turn without encryption shows the text (the search is not blind), and the caller
still gets the reply and the failure's message, decrypted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.privacy.leaks import leaks
from threadloom.starter.api import Threadloom
from threadloom.starter.conversations import close
from threadloom.starter.errors import TurnError
from threadloom.starter.temporal_binary import find_temporal_binary
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.contracts import TurnRequest, UserMessage
from threadloom.workflows.conversation_contracts import conversation_workflow_id


def _secret(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:10]} behind the lighthouse"


async def _temporal(env: WorkflowEnvironment, *args: str) -> str:
    """Run the `temporal` CLI against the test server; its stdout."""
    process = await asyncio.create_subprocess_exec(
        find_temporal_binary(),
        *args,
        "--address",
        env.client.service_client.config.target_host,
        "--namespace",
        env.client.namespace,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _exports(env: WorkflowEnvironment, workflow_ids: list[str]) -> dict[str, str]:
    """Each workflow's raw history, description and metadata, as the CLI prints them."""
    exported = {}
    for workflow_id in workflow_ids:
        exported[f"{workflow_id} history"] = await _temporal(env, "workflow", "show", "-w", workflow_id)
        exported[f"{workflow_id} describe"] = await _temporal(
            env, "workflow", "describe", "-w", workflow_id
        )
        # the current details, as the worker answers the metadata query
        exported[f"{workflow_id} metadata"] = await _temporal(
            env, "workflow", "metadata", "-w", workflow_id
        )
    return exported


def _found(secrets: list[str], exported: dict[str, str]) -> dict[str, list[str]]:
    return {
        f"{secret!r} in {name}": where
        for secret in secrets
        for name, text in exported.items()
        if (where := leaks(secret, text))
    }


async def test_encrypted_turns_leave_no_text_in_temporal(
    encrypted_loom: Threadloom,
    temporal_env: WorkflowEnvironment,
    threads: ThreadsClient,
    assistant_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    loom = encrypted_loom
    text = _secret("The spare key is")
    thread = await threads.threads.create()
    request = TurnRequest(
        thread_id=thread.id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        turn_key=uuid.uuid4().hex,
    )
    result = await loom.run_turn(request)
    assert result.reply == f"Echo: {text}"

    conversation_id = f"priv-{uuid.uuid4().hex[:8]}"
    said = _secret("My passport number is")
    answer = await loom.send(conversation_id, said, assistant_id=assistant_id)
    assert answer.reply == f"Echo: {said}"
    await close(loom, conversation_id, "done")
    conversation = conversation_workflow_id(conversation_id)
    await loom.client.get_workflow_handle(conversation).result()
    logged = caplog.text

    code = uuid.uuid4().hex[:12]
    failing = TurnRequest(
        thread_id=(await threads.threads.create()).id,
        assistant_id=assistant_id,
        message=UserMessage(text=f'Open my locker.\n/tool open_locker {{"code": "{code}"}}'),
        tools=["open_locker"],
        turn_key=uuid.uuid4().hex,
    )
    with pytest.raises(TurnError) as failure:
        await loom.run_turn(failing)
    assert type(failure.value).__name__ == "ToolFailed"
    assert f"locker {code} is jammed" in str(failure.value)  # the caller reads it, decrypted

    query = f'ConversationId="{conversation_id}"'
    child = [execution.id async for execution in loom.client.list_workflows(query)]
    assert conversation in child and len(child) == 2, child
    exported = await _exports(temporal_env, [request.workflow_id, failing.workflow_id, *child])
    for name, document in exported.items():  # every history holds payloads, all of them encrypted
        assert "history" not in name or leaks("binary/encrypted", document), name
    assert _found([text, result.reply, said, answer.reply, code], exported) == {}
    assert leaks(text, logged) == [] and leaks(said, logged) == []


async def test_the_search_finds_plain_text(
    temporal_env: WorkflowEnvironment,
    loom: Threadloom,
    engine_worker: None,
    thread_id: str,
    assistant_id: str,
) -> None:
    """Without encryption the same export shows the text: the search above is not blind."""
    text = _secret("Unencrypted:")
    request = TurnRequest(
        thread_id=thread_id,
        assistant_id=assistant_id,
        message=UserMessage(text=text),
        turn_key=uuid.uuid4().hex,
    )
    result = await loom.run_turn(request)
    exported = await _exports(temporal_env, [request.workflow_id])
    found = _found([text, result.reply], exported)
    assert f"{text!r} in {request.workflow_id} history" in found
    assert f"{result.reply!r} in {request.workflow_id} history" in found
    assert "currentDetails" in exported[f"{request.workflow_id} metadata"]  # the query was answered
