"""N threads server processes on one PostgreSQL database behind one address, for the server phase.

`threadloom bench --server postgresql:3` runs its turns through a round-robin TCP proxy
(`round_robin`) in front of three server processes, as docker-compose.yml runs them behind HAProxy.
The proxy runs in the bench process, so its CPU counts as the bench clients', not the servers'.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from threadloom.benchmarks.round_robin import RoundRobinProxy
from threadloom.benchmarks.stack import threads_server


@contextlib.asynccontextmanager
async def replica_servers(home: Path, database: str, count: int) -> AsyncIterator[tuple[str, str]]:
    """`count` server processes on `database`; yields the proxy's base and root URLs."""
    async with contextlib.AsyncExitStack() as stack:
        ports = []
        for index in range(count):
            server = contextlib.asynccontextmanager(threads_server)(
                home, database=database, name=f"server-postgresql-{index}"
            )
            _base, root = await stack.enter_async_context(server)
            ports.append(int(urlsplit(root).port or 0))
        proxy = await stack.enter_async_context(RoundRobinProxy(ports))
        yield proxy.base_url, proxy.base_url.removesuffix("/v1")
