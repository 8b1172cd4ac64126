"""Concurrency caps per model or per assistant: `THREADLOOM_SERVER_MODEL_CONCURRENCY`.

```
THREADLOOM_SERVER_MODEL_CONCURRENCY="gpt-4o=5,assistant:asst_abc=2,*=10"
```
Comma-separated `name=N` entries (N ≥ 1): `gpt-4o=5` lets at most 5 runs of model `gpt-4o` be
`in_progress` at once; `assistant:<id>=N` caps the runs of one assistant (whatever their model);
`*=N` caps every model that has no entry of its own, each model separately (not their total). A run
under two caps (its model's and its assistant's) starts only when both have room. Unset or empty:
no cap. A malformed value stops the server at start-up with the entry named.

Runs past a cap stay `queued` (the wire format does not change) and start in arrival order as others
finish; the check is part of the run's claim (`storage.run_caps`), so it holds across replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ASSISTANT_PREFIX = "assistant:"
Limit = tuple[str, str, int]
"""`(field, value, cap)`: at most `cap` runs whose `field` ("model", "assistant_id") is `value`."""


@dataclass(frozen=True)
class RunCaps:
    """The parsed caps: exact models, assistants, and the default for other models (`*`)."""

    models: dict[str, int] = field(default_factory=dict)
    assistants: dict[str, int] = field(default_factory=dict)
    any_model: int | None = None

    @classmethod
    def parse(cls, text: str) -> RunCaps | None:
        """The caps of `text` (None when it holds no entry).

        Raises:
            ValueError: an entry is not `name=N` with a whole N ≥ 1, or a name repeats.
        """
        models: dict[str, int] = {}
        assistants: dict[str, int] = {}
        any_model: int | None = None
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            name, equals, number = entry.rpartition("=")
            name, number = name.strip(), number.strip()
            if not equals or not name or not number.isdigit() or int(number) < 1:
                raise ValueError(
                    f"model concurrency entry {entry!r} is not `model=N`, `assistant:<id>=N` or "
                    "`*=N` with a whole number N of at least 1 (e.g. `gpt-4o=5,*=10`)"
                )
            if name == "*":
                target: dict[str, int] | None = None
                seen = any_model is not None
            elif name.startswith(ASSISTANT_PREFIX):
                name = name.removeprefix(ASSISTANT_PREFIX).strip()
                target, seen = assistants, name in assistants
            else:
                target, seen = models, name in models
            if seen or not name:
                raise ValueError(f"model concurrency entry {entry!r}: that name is given twice")
            if target is None:
                any_model = int(number)
            else:
                target[name] = int(number)
        if not models and not assistants and any_model is None:
            return None
        return cls(models, assistants, any_model)

    def limits(self, model: str, assistant_id: str) -> list[Limit]:
        """The caps a run of `model` and `assistant_id` is under (sorted: the lock order)."""
        found: list[Limit] = []
        cap = self.models.get(model, self.any_model)
        if cap is not None:
            found.append(("model", model, cap))
        if assistant_id in self.assistants:
            found.append(("assistant_id", assistant_id, self.assistants[assistant_id]))
        return sorted(found)

    def limits_of(self, run: dict[str, Any]) -> list[Limit]:
        """`limits` of a run object."""
        return self.limits(str(run.get("model") or ""), str(run.get("assistant_id") or ""))
