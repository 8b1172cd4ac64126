"""Cursor pages: awaiting the first page, walking every page with ``async for``."""

from __future__ import annotations

import pytest

from threadloom.threads_client import AsyncPage, Message

from .fake_api import FakeThreadsAPI, message_object


def api_with_messages(count: int) -> tuple[FakeThreadsAPI, str]:
    api = FakeThreadsAPI()
    thread_id = "thread_1"
    api.threads[thread_id] = {"id": thread_id, "object": "thread", "created_at": 0}
    api.messages[thread_id] = [
        message_object(f"msg_{index:02d}", thread_id, f"text {index}") for index in range(count)
    ]
    return api, thread_id


async def test_async_for_walks_three_pages_in_order() -> None:
    api, thread_id = api_with_messages(7)
    async with api.client() as client:
        texts = [
            message.text
            async for message in client.threads.messages.list(thread_id, order="asc", limit=3)
        ]

    assert texts == [f"text {index}" for index in range(7)]
    list_requests = [request.url.params for request in api.requests]
    assert len(list_requests) == 3
    assert "after" not in list_requests[0]
    assert list_requests[1]["after"] == "msg_02"
    assert list_requests[2]["after"] == "msg_05"
    assert all(params["order"] == "asc" and params["limit"] == "3" for params in list_requests)


async def test_await_gives_the_first_page_and_next_page_follows() -> None:
    api, thread_id = api_with_messages(5)
    async with api.client() as client:
        page = await client.threads.messages.list(thread_id, limit=2)
        second = await page.next_page()
        assert second is not None
        third = await second.next_page()
        assert third is not None
        fourth = await third.next_page()

    assert isinstance(page, AsyncPage)
    assert all(isinstance(item, Message) for item in page.data)
    # Default order is newest first.
    assert [m.id for m in page.data] == ["msg_04", "msg_03"]
    assert (page.first_id, page.last_id, page.has_more) == ("msg_04", "msg_03", True)
    assert [m.id for m in second.data] == ["msg_02", "msg_01"]
    assert [m.id for m in third.data] == ["msg_00"]
    assert third.has_more is False
    assert fourth is None


async def test_empty_list_has_null_cursors() -> None:
    api, thread_id = api_with_messages(0)
    async with api.client() as client:
        page = await client.threads.messages.list(thread_id)
        items = [message async for message in client.threads.messages.list(thread_id)]

    assert page.data == []
    assert (page.first_id, page.last_id, page.has_more) == (None, None, False)
    assert items == []


async def test_run_id_filter_and_unset_options_are_not_sent() -> None:
    api, thread_id = api_with_messages(3)
    api.messages[thread_id][1]["run_id"] = "run_1"
    api.messages[thread_id][1]["role"] = "assistant"
    async with api.client() as client:
        replies = [m async for m in client.threads.messages.list(thread_id, run_id="run_1")]

    assert [m.id for m in replies] == ["msg_01"]
    assert dict(api.requests[0].url.params) == {"run_id": "run_1"}


async def test_a_page_is_not_readable_before_it_is_awaited() -> None:
    api, thread_id = api_with_messages(1)
    async with api.client() as client:
        page = client.threads.messages.list(thread_id)
        with pytest.raises(RuntimeError, match="await"):
            _ = page.data
        assert (await page).data[0].id == "msg_00"
    assert len(api.requests) == 1
