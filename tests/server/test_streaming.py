"""SSE: event order, `*.created` before `*.delta`, `done` last, new stream after tool outputs."""

from __future__ import annotations

from tests.server.helpers import Api

TEXT_REPLY_ORDER = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
    "done",
]


def collapse(names: list[str]) -> list[str]:
    """Repeated deltas as one entry."""
    out: list[str] = []
    for name in names:
        if not (out and out[-1] == name == "thread.message.delta"):
            out.append(name)
    return out


async def test_stream_of_a_text_reply(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("one two three four five six seven eight nine")
    events = await api.stream(f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    names = [name for name, _ in events]
    assert collapse(names) == TEXT_REPLY_ORDER
    assert names.count("thread.message.delta") >= 2
    assert events[-1] == ("done", "[DONE]")
    deltas = [data["delta"]["content"][0] for name, data in events if name.endswith(".delta")]
    assert all(part["index"] == 0 for part in deltas)
    text = "".join(part["text"]["value"] for part in deltas)
    assert text == "Echo: one two three four five six seven eight nine"
    completed = dict(events)["thread.message.completed"]
    assert completed["content"][0]["text"]["value"] == text
    run = dict(events)["thread.run.completed"]
    assert await api.reply_text(thread["id"], run["id"]) == text


async def test_create_thread_and_run_stream_starts_with_thread_created(api: Api) -> None:
    assistant = await api.assistant()
    events = await api.stream(
        "/threads/runs",
        {"assistant_id": assistant["id"], "thread": {"messages": [{"role": "user", "content": "hi"}]}},
    )
    assert [name for name, _ in events][:2] == ["thread.created", "thread.run.created"]
    assert collapse([name for name, _ in events][1:]) == TEXT_REPLY_ORDER


async def test_create_thread_and_run_without_stream(api: Api) -> None:
    assistant = await api.assistant()
    run = await api.ok(
        "POST",
        "/threads/runs",
        json={
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": "yo"}]},
        },
    )
    run = await api.wait(run)
    assert await api.reply_text(run["thread_id"], run["id"]) == "Echo: yo"


async def test_stream_ends_at_requires_action_and_resumes_on_submit(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread('go\n/tool lookup {"q": 1}')
    events = await api.stream(f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
    names = [name for name, _ in events]
    assert names == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.requires_action",
        "done",
    ]
    run = dict(events)["thread.run.requires_action"]
    (call,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    resumed = await api.stream(
        f"/threads/{thread['id']}/runs/{run['id']}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": call["id"], "output": "42"}]},
    )
    names = [name for name, _ in resumed]
    assert names[:3] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress"]
    assert collapse(names[3:]) == TEXT_REPLY_ORDER[3:]
    assert (
        dict(resumed)["thread.message.completed"]["content"][0]["text"]["value"]
        == "Echo: go\n[lookup] 42"
    )


async def test_stream_of_a_failing_run_ends_with_failed(api: Api) -> None:
    assistant = await api.assistant()
    thread = await api.thread("x")
    events = await api.stream(
        f"/threads/{thread['id']}/runs",
        {"assistant_id": assistant["id"], "metadata": {"fault": "fail=server_error"}},
    )
    assert [name for name, _ in events][-2:] == ["thread.run.failed", "done"]
