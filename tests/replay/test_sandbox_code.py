"""The sandbox re-imports the workflow modules for every workflow run; they are compiled only once.

Without bytecode files (`PYTHONDONTWRITEBYTECODE=1` on a checkout or an install that did not
compile), every turn used to compile `workflows/turn.py` and its helpers again: most of the worker's
CPU at high concurrency (`starter/sandbox_code.py`).
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from threadloom.starter.history import load_history
from threadloom.starter.replay import build_replayer, replay_one
from threadloom.starter.sandbox_code import CompiledOnceLoader

HISTORY = Path(__file__).resolve().parent.parent / "histories" / "turn-quick-run.json"


async def test_each_workflow_module_is_compiled_once_without_bytecode_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No bytecode file anywhere: every module is read from its source, as on such a machine.
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(CompiledOnceLoader, "codes", {})
    compiled = Counter[str]()
    compile_source = importlib.machinery.SourceFileLoader.source_to_code

    def counting(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        compiled[Path(str(path)).name] += 1
        return compile_source(self, data, path, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "source_to_code", counting)

    history = load_history(HISTORY)
    replayer = build_replayer()
    # The first run compiles (so does the SDK's build id, once per process, hashing every module).
    assert (await replay_one(replayer, HISTORY.name, history)).ok
    first = compiled.copy()
    assert first["turn.py"] >= 1 and first["outcomes.py"] >= 1, first
    for _ in range(3):  # each replay is a new workflow run in a new sandbox, re-importing turn.py
        outcome = await replay_one(replayer, HISTORY.name, history)
        assert outcome.ok, outcome.line()
    assert compiled == first, compiled - first
    # and what is kept is the file as it is: the modules the runs imported, nothing else
    kept = {Path(path).name for path, _, _ in CompiledOnceLoader.codes}
    assert {"turn.py", "outcomes.py", "tool_rounds.py"} <= kept
