"""A benchmark child that keeps printing after `ready` is never blocked on a full pipe."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from threadloom.benchmarks.stack import start_ready_process

CHATTY = (
    "import sys\n"
    "print('ready', flush=True)\n"
    "for _ in range(64):\n"
    "    sys.stdout.write('w' * 16_384 + '\\n')\n"  # 1 MiB in all: 16 times what a pipe holds
    "sys.stdout.flush()\n"
    "print('done', flush=True)\n"
)


async def test_output_after_ready_reaches_the_log_and_never_blocks_the_child(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    process, drain = await start_ready_process(
        (sys.executable, "-c", CHATTY), log, what="the chatty child"
    )
    assert await asyncio.wait_for(process.wait(), 20) == 0  # it was not left blocked in write()
    await asyncio.wait_for(drain, 5)
    text = log.read_text()
    assert text.count("w" * 16_384) == 64 and text.rstrip().endswith("done")
