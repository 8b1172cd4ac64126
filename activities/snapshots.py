"""Reading the client's response models into the engine's contracts."""

from __future__ import annotations

from typing import Any

from threadloom.workflows.activity_contracts import RunSnapshot
from threadloom.workflows.contracts import Usage
from threadloom.workflows.tool_contracts import ToolCall


def as_dict(value: Any) -> dict[str, Any]:
    """A response model (or a plain dict) as a dict; `None` as an empty one."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    dumped: dict[str, Any] = value.model_dump(mode="json", exclude_none=True)
    return dumped


def snapshot_of(run: Any, *, deadline_passed: bool = False, polls: int = 0) -> RunSnapshot:
    """What the workflow needs to know about `run`."""
    error = as_dict(run.last_error)
    incomplete = as_dict(run.incomplete_details)
    usage = as_dict(run.usage)
    return RunSnapshot(
        run_id=run.id,
        status=run.status,
        deadline_passed=deadline_passed,
        error_code=error.get("code"),
        error_message=error.get("message"),
        incomplete_reason=incomplete.get("reason"),
        retry_after_seconds=_seconds(error.get("retry_after_seconds")),
        usage=Usage.model_validate(usage) if usage else None,
        polls=polls,
        tool_calls=[
            ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
            for call in run.tool_calls
        ],
    )


def tags_of(obj: Any) -> dict[str, str]:
    """The metadata of a message or run (never `None`)."""
    return dict(obj.metadata or {})


def _seconds(value: Any) -> float | None:
    """A non-negative number of seconds, or None for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
