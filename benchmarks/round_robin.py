"""A round-robin TCP proxy: one address in front of several threads server replicas.

Each new client connection goes to the next backend that accepts it (a backend that refuses is
skipped, as a load balancer's health check would); bytes are piped both ways until either side
closes. It balances connections, not requests: a client's keep-alive connection stays on one
replica. The replica tests and `threadloom bench --server postgresql:N` put it in front of N server
processes, as HAProxy does in docker-compose.yml.
"""

from __future__ import annotations

import asyncio
import itertools


class RoundRobinProxy:
    """A TCP proxy on a free port: each connection goes to the next backend that accepts it."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._next = itertools.cycle(range(len(ports)))
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections = [0] * len(ports)
        """How many client connections each backend got."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> RoundRobinProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in self._ports:
            index = next(self._next)
            try:
                opened = await asyncio.open_connection("127.0.0.1", self._ports[index])
            except OSError:
                continue  # that replica is down: the next one
            self.connections[index] += 1
            return opened
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            backend = await self._connect()
            if backend is None:
                return
            upstream_reader, upstream_writer = backend
            await asyncio.gather(
                _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
            )
        finally:
            writer.close()
            self._pipes.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
