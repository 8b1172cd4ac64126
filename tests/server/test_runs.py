"""Run lifecycle: echo replies, timestamps, the thread lock, tool calls, steps, limits, cancel."""

from __future__ import annotations

import asyncio
import time

from tests.server.helpers import Api


async def test_run_completes_with_echo_reply(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("hello there")
    run = await api.run(thread["id"], assistant["id"])
    assert run["status"] == "queued" and run["usage"] is None
    assert run["expires_at"] == run["created_at"] + 600
    assert run["started_at"] is None and run["instructions"] == ""
    done = await api.wait(run)
    assert done["status"] == "completed"
    assert done["expires_at"] is None and done["completed_at"] >= done["started_at"]
    assert done["usage"]["total_tokens"] == done["usage"]["prompt_tokens"] + 3
    (reply,) = await api.messages(thread["id"], run_id=run["id"])
    assert reply["content"][0]["text"]["value"] == "Echo: hello there"
    assert reply["run_id"] == run["id"] and reply["assistant_id"] == assistant["id"]
    assert reply["role"] == "assistant" and reply["status"] == "completed"
    steps = await api.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}/steps")
    (step,) = steps["data"]
    assert step["type"] == "message_creation" and step["status"] == "completed"
    assert step["step_details"]["message_creation"]["message_id"] == reply["id"]
    again = await api.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}/steps/{step['id']}")
    assert again == step
    runs = await api.ok("GET", f"/threads/{thread['id']}/runs")
    assert [r["id"] for r in runs["data"]] == [run["id"]]


async def test_instructions_and_additional_messages(api: Api) -> None:
    assistant = await api.assistant(instructions="Base.")
    thread = await api.thread()
    run = await api.run(
        thread["id"],
        assistant["id"],
        additional_instructions="More.",
        additional_messages=[{"role": "user", "content": "added by the run"}],
        metadata={"turn": "k1"},
    )
    assert run["instructions"] == "Base.\n\nMore." and run["metadata"] == {"turn": "k1"}
    await api.wait(run)
    assert await api.reply_text(thread["id"], run["id"]) == "Echo: added by the run"
    changed = await api.ok(
        "POST", f"/threads/{thread['id']}/runs/{run['id']}", json={"metadata": {"x": "y"}}
    )
    assert changed["metadata"] == {"x": "y"}


async def test_thread_lock_error_texts(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("hi")
    tid = thread["id"]
    run = await api.run(tid, assistant["id"], metadata={"fault": "stall"})
    await api.wait(run, until={"in_progress"})  # a replica claims it a moment after the create
    added = await api.client.post(f"/threads/{tid}/messages", json={"role": "user", "content": "x"})
    assert added.status_code == 400
    assert added.json()["error"] == {
        "message": f"Can't add messages to {tid} while a run {run['id']} is active.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    second = await api.client.post(f"/threads/{tid}/runs", json={"assistant_id": assistant["id"]})
    assert second.status_code == 400
    assert second.json()["error"]["message"] == f"Thread {tid} already has an active run {run['id']}."
    submit = await api.client.post(
        f"/threads/{tid}/runs/{run['id']}/submit_tool_outputs",
        json={"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]},
    )
    assert submit.status_code == 400
    assert (
        submit.json()["error"]["message"] == 'Runs in status "in_progress" do not accept tool outputs.'
    )
    await api.ok("POST", f"/threads/{tid}/runs/{run['id']}/cancel")
    await api.wait(run, until={"cancelled"})
    assert len(await api.messages(tid)) == 1
    done = await api.wait(await api.run(tid, assistant["id"]))
    again = await api.client.post(f"/threads/{tid}/runs/{done['id']}/cancel")
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "Cannot cancel run with status 'completed'."


async def test_tool_calls_in_two_rounds(api: Api) -> None:
    assistant = await api.assistant()
    text = 'Compute this\n/tool add {"a": 1, "b": 2}\n/tool lookup\n/then\n/tool add {"a": 3}'
    thread = await api.thread(text)
    run = await api.wait(await api.run(thread["id"], assistant["id"]))
    assert run["status"] == "requires_action" and run["usage"] is None
    calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("add", '{"a": 1, "b": 2}'),
        ("lookup", "{}"),
    ]
    assert run["expires_at"] is not None
    path = f"/threads/{thread['id']}/runs/{run['id']}"
    outputs = [{"tool_call_id": calls[0]["id"], "output": "3"}]
    partial = await api.client.post(f"{path}/submit_tool_outputs", json={"tool_outputs": outputs})
    assert partial.status_code == 400
    outputs.append({"tool_call_id": calls[1]["id"], "output": "found"})
    queued = await api.ok("POST", f"{path}/submit_tool_outputs", json={"tool_outputs": outputs})
    assert queued["status"] == "queued" and queued["required_action"] is None
    run = await api.wait(queued)
    (call,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["function"] == {"name": "add", "arguments": '{"a": 3}'}
    run = await api.ok(
        "POST",
        f"{path}/submit_tool_outputs",
        json={"tool_outputs": [{"tool_call_id": call["id"], "output": "4"}]},
    )
    run = await api.wait(run)
    assert run["status"] == "completed" and run["usage"]["total_tokens"] > 0
    reply = await api.reply_text(thread["id"], run["id"])
    assert reply == "Echo: Compute this\n[add] 3\n[lookup] found\n[add] 4"
    steps = (await api.ok("GET", f"{path}/steps", params={"order": "asc"}))["data"]
    assert [s["type"] for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    first = steps[0]["step_details"]["tool_calls"]
    assert [c["function"]["output"] for c in first] == ["3", "found"]


async def test_tool_line_for_unknown_function_is_text(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("/tool missing {}")
    run = await api.wait(await api.run(thread["id"], assistant["id"]))
    assert run["status"] == "completed"
    assert await api.reply_text(thread["id"], run["id"]) == "Echo: /tool missing {}"


async def test_max_completion_tokens_makes_run_incomplete(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread(" ".join(["word"] * 300))
    run = await api.wait(await api.run(thread["id"], assistant["id"], max_completion_tokens=256))
    assert run["status"] == "incomplete"
    assert run["incomplete_details"] == {"reason": "max_completion_tokens"}
    assert run["usage"]["completion_tokens"] == 256
    (message,) = await api.messages(thread["id"], run_id=run["id"])
    assert message["status"] == "incomplete"
    assert message["incomplete_details"] == {"reason": "max_tokens"}
    assert len(message["content"][0]["text"]["value"].split()) == 256


async def test_cancel_goes_through_cancelling(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("wait")
    run = await api.run(thread["id"], assistant["id"], metadata={"fault": "stall"})
    run = await api.wait(run, until={"in_progress"})
    cancelling = await api.ok("POST", f"/threads/{thread['id']}/runs/{run['id']}/cancel")
    assert cancelling["status"] == "cancelling"
    cancelled = await api.wait(cancelling, until={"cancelled"})
    assert cancelled["cancelled_at"] is not None and cancelled["expires_at"] is None
    assert cancelled["usage"] is not None
    # The thread is unlocked again.
    await api.ok("POST", f"/threads/{thread['id']}/messages", json={"role": "user", "content": "x"})


async def test_cancel_while_waiting_for_tool_outputs(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("/tool lookup")
    run = await api.wait(await api.run(thread["id"], assistant["id"]))
    assert run["status"] == "requires_action"
    await api.ok("POST", f"/threads/{thread['id']}/runs/{run['id']}/cancel")
    cancelled = await api.wait(run, until={"cancelled"})
    assert cancelled["required_action"] is None
    steps = await api.ok("GET", f"/threads/{thread['id']}/runs/{run['id']}/steps")
    assert steps["data"][0]["status"] == "cancelled"


async def test_expiry_of_active_and_requires_action_runs(make_api) -> None:
    async with make_api(run_expiry_seconds=2) as api:
        assistant = await api.assistant()
        stalled_thread = await api.thread("stall")
        waiting_thread = await api.thread("/tool lookup")
        stalled = await api.run(stalled_thread["id"], assistant["id"], metadata={"fault": "stall"})
        waiting = await api.wait(await api.run(waiting_thread["id"], assistant["id"]))
        assert waiting["status"] == "requires_action"
        started = time.monotonic()
        expired = await api.wait(stalled, until={"expired"})
        assert expired["expires_at"] is None and expired["usage"] is not None
        assert (await api.wait(waiting, until={"expired"}))["required_action"] is None
        assert time.monotonic() - started < 3.5  # expires_at is whole seconds: 1 to 2 s away
        late = await api.client.post(
            f"/threads/{waiting_thread['id']}/runs/{waiting['id']}/submit_tool_outputs",
            json={"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]},
        )
        assert late.json()["error"]["message"] == 'Runs in status "expired" do not accept tool outputs.'
        await asyncio.sleep(0)
