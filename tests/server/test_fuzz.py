"""Property-based: arbitrary JSON values and strings in every free-form field of every creating route.

For each field (a "slot"), hypothesis draws a value: arbitrary strings (lone surrogates, NUL, RTL
marks, 4-byte emoji among them) or arbitrary JSON-able values (NaN and Infinity included, nested
lists and objects, big integers). The body is serialised the way a careless client would
(`json.dumps`: surrogates as `\\ud800` escapes, `NaN` as a bare token). Each answer must be either
a 4xx in the error envelope, or a 2xx whose object reads back holding exactly the value sent; every
answer is validated against the spec (the `api` fixture's hook), and afterwards every list endpoint
still answers 200. `THREADLOOM_FUZZ_EXAMPLES` sets the examples per slot (default 60).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.fuzz_slots import SLOTS, TEXT, Path_, Slot
from tests.server.helpers import Api

EXAMPLES = int(os.environ.get("THREADLOOM_FUZZ_EXAMPLES", "60"))


@dataclass
class World:
    """What one test created: its assistant, and the threads to list at the end."""

    api: Api
    assistant_id: str
    threads: list[str] = field(default_factory=list)

    async def fresh_thread(self) -> str:
        thread_id = str((await self.api.ok("POST", "/threads"))["id"])
        self.threads.append(thread_id)
        return thread_id


def at(obj: Any, path: Path_) -> Any:
    for key in path:
        obj = obj[key]
    return obj


async def create_and_read(world: World, slot: Slot, raw: bytes, sent: Any) -> tuple[Any, Any]:
    """Send the raw body; `(response, the object read back)`, the latter None unless 2xx."""
    api = world.api
    headers = {"content-type": "application/json"}
    path = {
        "assistant": lambda tid: "/assistants",
        "thread": lambda tid: "/threads",
        "message": lambda tid: f"/threads/{tid}/messages",
        "run": lambda tid: f"/threads/{tid}/runs",
        "run_message": lambda tid: f"/threads/{tid}/runs",
        "thread_run": lambda tid: "/threads/runs",
        "thread_run_message": lambda tid: "/threads/runs",
    }[slot.route]
    thread_id = await world.fresh_thread() if slot.route in ("message", "run", "run_message") else ""
    response = await api.client.post(path(thread_id), content=raw, headers=headers)
    if response.status_code >= 300:
        return response, None
    created = response.json()
    if slot.route == "assistant":
        return response, await api.ok("GET", f"/assistants/{created['id']}")
    if slot.route == "thread":
        world.threads.append(created["id"])
        if slot.read == TEXT:
            return response, (await api.messages(created["id"]))[0]
        return response, await api.ok("GET", f"/threads/{created['id']}")
    if slot.route == "message":
        return response, await api.ok("GET", f"/threads/{thread_id}/messages/{created['id']}")
    thread_id = thread_id or created["thread_id"]
    world.threads.append(thread_id)
    if slot.route in ("run_message", "thread_run_message"):
        return response, (await api.messages(thread_id))[0]
    return response, await api.ok("GET", f"/threads/{thread_id}/runs/{created['id']}")


def same(read: Any, sent: Any) -> bool:
    """Equal as JSON texts (so `true` is not `1`); a sent NaN or Infinity is never equal."""
    try:
        expected = json.dumps(sent, sort_keys=True, allow_nan=False)
    except ValueError:
        return False
    return json.dumps(read, sort_keys=True) == expected


async def lists_answer(world: World) -> None:
    """Every list endpoint over what exists: assistants (all pages), the latest thread's lists."""
    api = world.api
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
        page = await api.ok("GET", "/assistants", params=params)
        if not page["has_more"]:
            break
        after = page["last_id"]
    for thread_id in world.threads[-1:]:
        await api.ok("GET", f"/threads/{thread_id}/messages", params={"limit": 100})
        runs = await api.ok("GET", f"/threads/{thread_id}/runs", params={"limit": 100})
        for run in runs["data"]:
            await api.ok("GET", f"/threads/{thread_id}/runs/{run['id']}/steps")


WORLDS: dict[int, World] = {}
OUTCOMES: Counter[tuple[str, str]] = Counter()


async def world_of(api: Api) -> World:
    """One world per `api` fixture: hypothesis runs every example of a test against the same app."""
    if id(api) not in WORLDS:
        WORLDS.clear()
        WORLDS[id(api)] = World(api, (await api.assistant())["id"])
    return WORLDS[id(api)]


@pytest.mark.parametrize("slot", SLOTS, ids=[slot.name for slot in SLOTS])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_value_in_any_free_form_field(api: Api, slot: Slot, data: st.DataObject) -> None:
    world = await world_of(api)
    value = data.draw(slot.values, label=slot.name)
    body = slot.body(value, world.assistant_id)
    raw = json.dumps(body).encode()  # surrogates become escapes, NaN a bare token
    sent = json.loads(raw)
    response, read = await create_and_read(world, slot, raw, sent)
    assert response.headers["content-type"] == "application/json", response.text
    if read is None:
        assert 400 <= response.status_code < 500, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"], error
        OUTCOMES[slot.name, "refused"] += 1
    else:
        expected = at(sent, ["metadata"]) if slot.read == ["metadata"] else value
        got = at(read, slot.read)
        # null in a nullable field means "not given": the object holds the default instead.
        assert value is None or same(got, expected), (slot.name, got, expected)
        OUTCOMES[slot.name, "accepted"] += 1
    await lists_answer(world)


def test_every_slot_saw_both_outcomes() -> None:
    """Each slot had values accepted and values refused, or it only tested one side (runs last)."""
    if not OUTCOMES:
        pytest.skip("run together with the fuzz tests above")
    for slot in SLOTS:
        assert OUTCOMES[slot.name, "accepted"] and OUTCOMES[slot.name, "refused"], (
            slot.name,
            OUTCOMES[slot.name, "accepted"],
            OUTCOMES[slot.name, "refused"],
        )
