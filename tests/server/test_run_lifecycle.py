"""Run lifecycle over a real socket: thread deletion, expiry at `expires_at`, stream queues, index."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx

from tests.server.helpers import (
    new_assistant,
    new_thread,
    parse_sse,
    wait_until,
    waiting_run,
)
from threadloom.threads_server.testing import ServerHandle, running_server


def _subscribers(server: ServerHandle) -> int:
    return int(server.app.state.services.events.subscriber_count)


async def test_deleting_a_thread_ends_its_streams_long_polls_and_timers(db) -> None:
    async with running_server(db, faults_enabled=True) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            assistant_id = await new_assistant(client)
            thread_id = await new_thread(client, "stall")
            body = {"assistant_id": assistant_id, "stream": True, "metadata": {"fault": "stall"}}
            async with client.stream("POST", f"/threads/{thread_id}/runs", json=body) as stream:
                lines = stream.aiter_lines()
                first = [await anext(lines), await anext(lines)]
                run_id = json.loads(first[1].removeprefix("data: "))["id"]
                # Long-poll the run once it is in progress: on PostgreSQL a replica claims it a
                # moment after the create, and that change would answer a poll started earlier.
                while first[-2] != "event: thread.run.in_progress":
                    first.append(await anext(lines))
                poll = asyncio.ensure_future(
                    client.get(f"/threads/{thread_id}/runs/{run_id}", params={"wait_ms": 10_000})
                )
                waiting = await waiting_run(client, assistant_id)
                runner = server.app.state.services.runner
                assert runner.pending_expiries == 2
                await wait_until(lambda: _subscribers(server) == 2, "the long-poll to subscribe")
                started = time.monotonic()
                for tid in (thread_id, waiting["thread_id"]):
                    assert (await client.delete(f"/threads/{tid}")).status_code == 200
                rest = "\n".join(first) + "\n" + "\n".join([line async for line in lines])
            events = parse_sse(rest)
            assert [name for name, _ in events][-2:] == ["thread.run.cancelled", "done"]
            assert events[-2][1]["id"] == run_id and events[-2][1]["cancelled_at"] is not None
            polled = await poll
            assert (
                polled.status_code == 404 and polled.json()["error"]["type"] == "invalid_request_error"
            )
            assert time.monotonic() - started < 5  # not the 10 s wait
            assert runner.pending_expiries == 0
            assert _subscribers(server) == 0


async def test_a_run_waiting_at_expires_at_is_expired_and_refuses_outputs(db) -> None:
    async with running_server(db, run_expiry_seconds=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            run = await waiting_run(client, await new_assistant(client))
            (call,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
            await asyncio.sleep(max(0.0, run["expires_at"] - time.time()))
            late = await client.post(
                f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs",
                json={"tool_outputs": [{"tool_call_id": call["id"], "output": "1"}]},
            )
            assert late.status_code == 400
            assert (
                late.json()["error"]["message"] == 'Runs in status "expired" do not accept tool outputs.'
            )
            after = (await client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")).json()
            assert after["status"] == "expired" and after["expires_at"] is None


def _dechunk(raw: bytes) -> bytes:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"chunked" in head.lower(), head
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return bytes(out)


async def test_a_stalled_stream_reader_is_dropped_with_an_error_event(db) -> None:
    # The reply's deltas must outgrow every buffer between the server and the stalled reader (the
    # kernel's loopback send buffer grows to 4 MiB): 20,000 deltas of 200-character words are about
    # 8 MiB. With short words (about 5 MiB) the buffers once swallowed the whole stream.
    settings = {"stream_queue_max_events": 20, "stream_stall_seconds": 0.3, "stream_delta_words": 1}
    limits = {"max_message_chars": 5_000_000, "max_body_bytes": 8 * 1024 * 1024}
    async with running_server(db, **settings, **limits) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            text = " ".join(f"w{i:05d}".ljust(200, "x") for i in range(20_000))
            thread_id = await new_thread(client, text)
            body = json.dumps({"assistant_id": await new_assistant(client), "stream": True}).encode()
        # A reader with a small receive buffer that stops reading: the server cannot push it all.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(server.root_url.rsplit(":", 1)[1])))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(
            f"POST /v1/threads/{thread_id}/runs HTTP/1.1\r\nhost: x\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        raw = await reader.read(1000)  # the stream has begun, so its subscription is open
        # Read nothing more until the server lets go of the stream: once the buffers are full it
        # drops it (0.3 s of a full queue), or it sent the whole reply. A fixed pause was not
        # enough: on a loaded machine the run made its deltas slower than the pause, the buffers
        # never filled, and the reader took the whole stream once it read again.
        for _ in range(1200):  # up to 60 s
            if not _subscribers(server):
                break
            await asyncio.sleep(0.05)
        raw += await asyncio.wait_for(reader.read(), timeout=30)
        writer.close()
        events = parse_sse(_dechunk(raw).decode())
        assert [name for name, _ in events][-2:] == ["error", "done"]
        assert events[-2][1]["error"]["code"] == "stream_reader_too_slow"
        deltas = [name for name, _ in events].count("thread.message.delta")
        assert deltas < 20_000
        # The run itself went on and finished the whole reply.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            page = (await client.get(f"/threads/{thread_id}/messages", params={"order": "asc"})).json()
            assert page["data"][-1]["content"][0]["text"]["value"] == f"Echo: {text}"
        assert _subscribers(server) == 0


async def test_disconnected_streams_and_long_polls_unsubscribe(db) -> None:
    async with running_server(db, faults_enabled=True, long_poll_max_ms=10_000) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            assistant_id = await new_assistant(client)
            thread_id = await new_thread(client, "stall")
            body = {"assistant_id": assistant_id, "stream": True, "metadata": {"fault": "stall"}}
            async with client.stream("POST", f"/threads/{thread_id}/runs", json=body) as stream:
                lines = stream.aiter_lines()
                await anext(lines)
                run_id = json.loads((await anext(lines)).removeprefix("data: "))["id"]
                assert _subscribers(server) == 1
            await wait_until(lambda: _subscribers(server) == 0, "the closed stream to unsubscribe")
            path = f"/threads/{thread_id}/runs/{run_id}"
            try:
                await client.get(path, params={"wait_ms": 10_000}, timeout=0.5)
            except httpx.ReadTimeout:
                pass
            await wait_until(lambda: _subscribers(server) == 0, "the gone long-poll to unsubscribe", 3)


async def test_a_restart_rearms_the_expiry_of_a_waiting_run(db) -> None:
    async with running_server(db, run_expiry_seconds=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            run = await waiting_run(client, await new_assistant(client))
    async with running_server(db, run_expiry_seconds=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            path = f"/threads/{run['thread_id']}/runs/{run['id']}"
            assert (await client.get(path)).json()["status"] == "requires_action"
            held = await client.get(path, params={"wait_ms": 5000, "if_status": "requires_action"})
            assert held.json()["status"] == "expired"
            assert time.time() >= run["expires_at"]
