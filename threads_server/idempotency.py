"""Idempotency keys (additive, Stripe-style): a retried creating POST answers the first answer again.

```
POST + Idempotency-Key: k  ──► one transaction:
    key k stored, unexpired? ── same fingerprint ──► stored status + body, `Idempotent-Replayed: true`
                             └─ other fingerprint ─► 400 idempotency_key_reused
    otherwise ──► the route's write, then k + fingerprint + answer stored ──► COMMIT ──► side effects
```

The fingerprint is the method, the path and the sha256 of the raw body. Because the key is looked up and
stored inside the write's own transaction (SQLite's single writer serialises them; on PostgreSQL the
transaction first takes an advisory lock on the key, so of two concurrent first uses on any replicas
the second waits for the first's COMMIT and replays its answer), a crash
never leaves a write without its key or a key without its write, and two identical concurrent
requests write once. A failed request (an `APIError`, a rollback) stores nothing, so its retry runs
again. Only the routes that call `Idempotency.write` honour the header; requests with
`"stream": true` pass `enabled=False`.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response

from threadloom.threads_server.errors import APIError
from threadloom.threads_server.storage import Conn, Database
from threadloom.threads_server.storage.idempotency_keys import find_key, purge_expired, store_key
from threadloom.threads_server.wire_json import encode_text

T = TypeVar("T")

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
ADVERTISE_HEADER = "threadloom-idempotency-keys"
MAX_KEY_LENGTH = 255
PURGE_EVERY = 500
"""Expired keys are deleted at start-up and, on average, in the transaction of every `PURGE_EVERY`th
stored key (at random: several replicas do not share a counter)."""


@dataclass(frozen=True)
class Fingerprint:
    """What a key is bound to: method, path and the sha256 (hex) of the raw body."""

    method: str
    path: str
    body_sha256: str


@dataclass(frozen=True)
class Replay:
    """A stored answer."""

    status: int
    body: str


class Idempotency:
    """Looks up and stores idempotency keys; counts stores, replays and rejections for the stats."""

    def __init__(self, db: Database, retention_seconds: int) -> None:
        self._db = db
        self.retention_seconds = retention_seconds
        self.stored = 0
        self.replayed = 0
        self.rejected = 0

    @property
    def enabled(self) -> bool:
        """Keys are honoured (retention above zero)."""
        return self.retention_seconds > 0

    def snapshot(self) -> dict[str, Any]:
        """Counters since start-up (or the last reset)."""
        return {
            "retention_seconds": self.retention_seconds,
            "stored": self.stored,
            "replayed": self.replayed,
            "rejected": self.rejected,
        }

    def reset(self) -> None:
        """Start counting from zero."""
        self.stored = self.replayed = self.rejected = 0

    async def purge(self) -> int:
        """Delete expired keys now; returns how many."""
        return await self._db.run(purge_expired, time.time() - self.retention_seconds)

    def key_of(self, request: Request) -> str | None:
        """The request's key (None without one, or when the feature is off); 400 if malformed."""
        if not self.enabled:
            return None
        key = request.headers.get(KEY_HEADER)
        if key is None:
            return None
        if not key or len(key) > MAX_KEY_LENGTH:
            self.rejected += 1
            raise APIError(
                f"The {KEY_HEADER} header must be between 1 and {MAX_KEY_LENGTH} characters long.",
                code="invalid_idempotency_key",
            )
        return key

    async def write(
        self,
        request: Request,
        fn: Callable[..., T],
        *args: Any,
        respond: Callable[[T], Any] = lambda result: result,
        enabled: bool = True,
    ) -> T | Response:
        """`db.run(fn, *args)` guarded by the request's key.

        Returns `fn`'s result when the write happened (the caller then answers `respond(result)` with
        status 200 and performs its side effects), or the stored answer as a `Response` for a replay.
        """
        key = self.key_of(request) if enabled else None
        if key is None:
            return await self._db.run(fn, *args)
        raw = await request.body()
        fingerprint = Fingerprint(request.method, request.url.path, hashlib.sha256(raw).hexdigest())
        try:
            outcome: T | Replay = await self._db.run(self._guarded, key, fingerprint, fn, respond, args)
        except APIError as exc:
            if exc.code == "idempotency_key_reused":
                self.rejected += 1
            raise
        if not isinstance(outcome, Replay):
            self.stored += 1
        if isinstance(outcome, Replay):
            self.replayed += 1
            return Response(
                content=outcome.body,
                status_code=outcome.status,
                media_type="application/json",
                headers={REPLAYED_HEADER: "true"},
            )
        return outcome

    def _guarded(
        self,
        conn: Conn,
        key: str,
        fingerprint: Fingerprint,
        fn: Callable[..., T],
        respond: Callable[[T], Any],
        args: tuple[Any, ...],
    ) -> T | Replay:
        stamp = time.time()
        cutoff = stamp - self.retention_seconds
        # Two first uses of one key on two replicas: the second waits here, then replays the first.
        conn.lock(f"idempotency {key}")
        row = find_key(conn, key, cutoff)
        if row is not None:
            if Fingerprint(row[0], row[1], row[2]) != fingerprint:
                raise APIError(
                    f"Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with; this {KEY_HEADER} was used with a different request.",
                    code="idempotency_key_reused",
                )
            return Replay(status=row[3], body=row[4])
        result = fn(conn, *args)
        store_key(
            conn,
            key,
            (fingerprint.method, fingerprint.path, fingerprint.body_sha256),
            encode_text(respond(result)),
            stamp,
        )
        # The counters are kept by `write`, after the commit: on PostgreSQL this may run again.
        if random.randrange(PURGE_EVERY) == 0:
            purge_expired(conn, cutoff)
        return result
