"""Compile the workflow modules once per process, whether or not bytecode files exist.

Temporal's workflow sandbox re-imports every module it does not pass through for each workflow run
(a fresh module each time is what keeps one run's state out of the next). Importing runs the
module's code object, which Python reads from its `__pycache__` file or, where there is none,
compiles from the source. Having no bytecode files is common: `PYTHONDONTWRITEBYTECODE=1` (set in
many images, ours included, and on the machine this was measured on) together with a checkout or an
install that did not compile (`uv pip install` without `--compile-bytecode`, a read-only tree; pip
compiles at install time). There every turn compiled `workflows/turn.py` and its helpers again: 30 %
of the worker's CPU samples at concurrency 50, and 43 against 26-28 worker CPU ms per turn with the
cache (`threadloom bench --profile`; README, "The workflow sandbox compiled the turn's code").

`keep_compiled(prefix)` puts a finder before Python's own for the modules under `prefix`: the
same files, the same loader, except that each (file, modification time, size) is compiled once and
its code object kept. Nothing is written to disk; an edited file is compiled again.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import ClassVar


class CompiledOnceLoader(importlib.machinery.SourceFileLoader):
    """A source file loader that keeps the code object of every file version it loaded."""

    codes: ClassVar[dict[tuple[str, int, int], CodeType]] = {}
    _lock: ClassVar = threading.Lock()

    def get_code(self, fullname: str) -> CodeType:
        """The kept code object of this file as it is now, else Python's (bytecode file or compile)."""
        path = self.get_filename(fullname)
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        code = self.codes.get(key)
        if code is None:
            code = super().get_code(fullname)
            if code is None:  # pragma: no cover - a source loader always has code
                raise ImportError(f"no code for {fullname}", name=fullname)
            with self._lock:
                code = self.codes.setdefault(key, code)
        return code


class _KeepCompiled(importlib.abc.MetaPathFinder):
    """Finds what Python's path finder finds, for the modules under `prefix`, with the loader above."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.prefix and not fullname.startswith(self.prefix + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if spec is None or type(loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = CompiledOnceLoader(loader.name, loader.path)
        return spec


def keep_compiled(prefix: str) -> None:
    """Compile the modules under `prefix` once per process from now on (idempotent)."""
    if not any(isinstance(f, _KeepCompiled) and f.prefix == prefix for f in sys.meta_path):
        sys.meta_path.insert(0, _KeepCompiled(prefix))
