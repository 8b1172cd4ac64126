"""Free loopback ports for the tests' servers.

Binding port 0 and closing the socket hands out a port the kernel may give to the very next caller too:
two picks in one test (a UI port and a threads server port) came back equal once in CI, and so can the
picks of the two pytest-xdist processes. So each test process takes ports from a block of its own, below
Linux's ephemeral range (32768-60999) where the kernel's own picks (the Temporal test server's, outgoing
connections') land, and goes round it in order, so no port comes back before a thousand others.
"""

from __future__ import annotations

import itertools
import os
import socket

_FIRST = 20000
_BLOCK = 1000
_BLOCKS = 12  # 20000-31999


def _block_start() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3" in the fourth process
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    return _FIRST + (index % _BLOCKS) * _BLOCK


_candidates = itertools.cycle(range(_block_start(), _block_start() + _BLOCK))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on and that this process did not hand out lately."""
    for port in itertools.islice(_candidates, _BLOCK):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port left in {_block_start()}-{_block_start() + _BLOCK - 1}")
