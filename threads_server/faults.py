"""Fault injection, off unless the server runs with `faults_enabled` (`--faults`).

Run faults come from the metadata of a run or of its assistant (the run wins): key `fault` with
`delay=<ms>`, `stall`, `fail=<code>`, `expire` or `incomplete=<reason>`, and optional `fault_times=<n>`
(only the first n runs on the thread with that `fault` value get it); a `fail` fault with
`fault_retry_after=<s>` carries `last_error.retry_after_seconds`, as an upstream 429's `Retry-After`.

HTTP faults are queued with `POST /_threadloom/faults` and consumed by matching requests:
`500` / `429` answer before the handler, `drop` closes the connection before the handler,
`drop_after_commit` runs the handler (its writes commit) and then closes the connection unanswered;
`500_after_commit` runs the handler and then answers 500 instead of the handler's answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadloom.threads_server.errors import envelope
from threadloom.threads_server.request_tools import Strict
from threadloom.threads_server.wire_json import encode

RUN_FAULT_KINDS = {"delay", "stall", "fail", "expire", "incomplete"}
FAIL_CODES = {"server_error", "rate_limit_exceeded", "invalid_prompt"}
INCOMPLETE_REASONS = {"max_prompt_tokens", "max_completion_tokens"}
TRANSPORT_KEY = "threadloom.transport"


@dataclass(frozen=True)
class RunFault:
    """A parsed run fault: `kind` (delay, stall, fail, expire, incomplete) and its `value`."""

    raw: str
    kind: str
    value: str | None
    times: int | None
    retry_after: int | None = None
    """`fault_retry_after=<s>`: the `retry_after_seconds` a `fail` fault's `last_error` carries."""


def parse_run_fault(run_metadata: dict[str, str], assistant_metadata: dict[str, str]) -> RunFault | None:
    """The fault asked for by the run's (else the assistant's) metadata; None if none or invalid."""
    source = run_metadata if "fault" in run_metadata else assistant_metadata
    raw = source.get("fault")
    if not raw:
        return None
    kind, _, value = raw.strip().partition("=")
    kind = kind.strip()
    times_raw = source.get("fault_times")
    times = int(times_raw) if times_raw and times_raw.strip().isdigit() else None
    after_raw = (source.get("fault_retry_after") or "").strip()
    retry_after = int(after_raw) if after_raw.isdigit() else None
    fault = RunFault(raw.strip(), kind, value.strip() or None, times, retry_after)
    if kind not in RUN_FAULT_KINDS:
        return None
    if kind == "delay" and not (fault.value or "").isdigit():
        return None
    if kind == "fail" and fault.value not in FAIL_CODES:
        return None
    if kind == "incomplete" and fault.value not in INCOMPLETE_REASONS:
        return None
    return fault


class HttpFault(Strict):
    """A queued HTTP fault (`POST /_threadloom/faults`)."""

    method: str = "*"
    path: Annotated[str, Field(min_length=1)]
    action: Literal["500", "429", "drop", "drop_after_commit", "500_after_commit"]
    times: Annotated[int, Field(ge=1)] = 1
    retry_after: Annotated[int, Field(ge=0)] = 1


def path_matches(pattern: str, path: str) -> bool:
    """`*` matches exactly one path segment; everything else must be equal."""
    wanted, actual = pattern.rstrip("/").split("/"), path.rstrip("/").split("/")
    return len(wanted) == len(actual) and all(
        w == "*" or w == a for w, a in zip(wanted, actual, strict=True)
    )


class HttpFaults:
    """The queue of HTTP faults; each match uses up one of a fault's `times`."""

    def __init__(self) -> None:
        self._faults: list[dict[str, Any]] = []

    def add(self, fault: HttpFault) -> None:
        """Queue a fault."""
        self._faults.append(fault.model_dump())

    def clear(self) -> None:
        """Forget every queued fault."""
        self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        """The queued faults with their remaining `times`."""
        return [dict(fault) for fault in self._faults]

    def take(self, method: str, path: str) -> dict[str, Any] | None:
        """The first fault matching the request, consuming one use of it."""
        for fault in self._faults:
            if fault["method"] not in ("*", method.upper()):
                continue
            if not path_matches(fault["path"], path):
                continue
            fault["times"] -= 1
            if fault["times"] <= 0:
                self._faults.remove(fault)
            return fault
        return None


class ConnectionDropped(ConnectionError):
    """Raised where there is no socket to close (in-process ASGI transports)."""


async def drop_connection(scope: Scope, receive: Receive, send: Send) -> None:
    """Close the client's connection without an answer.

    Under `serving.build_server` the socket is aborted before anything is written. Elsewhere (plain
    uvicorn, in-process transports) the closest thing is a response cut short: headers promising a
    body, then an exception, on which servers close the connection and in-process clients raise.
    """
    transport = scope.get("state", {}).get(TRANSPORT_KEY)
    if transport is None:
        await send(
            {"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"64")]}
        )
        raise ConnectionDropped("connection dropped by fault injection")
    transport.abort()
    # Let the server notice the disconnect, so it does not try to answer on a closed socket.
    try:
        async with asyncio.timeout(1.0):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass


class HttpFaultMiddleware:
    """Applies queued HTTP faults to `/v1` requests."""

    def __init__(self, app: ASGIApp, faults: HttpFaults, enabled: bool) -> None:
        self.app = app
        self.faults = faults
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if not self.enabled or scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        action = fault["action"]
        if action in ("500", "429"):
            await _answer_fault(send, action, fault["retry_after"])
        elif action == "drop":
            await drop_connection(scope, receive, send)
        else:

            async def swallow(_message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            if action == "500_after_commit":
                await _answer_fault(send, "500", fault["retry_after"])
            else:
                await drop_connection(scope, receive, send)


async def _answer_fault(send: Send, action: str, retry_after: int) -> None:
    if action == "429":
        status = 429
        body = envelope(
            "Rate limit reached (injected fault).", type="requests", code="rate_limit_exceeded"
        )
        headers = [(b"retry-after", str(retry_after).encode())]
    else:
        status = 500
        body = envelope("The server had an error (injected fault).", type="server_error")
        headers = []
    payload = encode(body)
    headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
