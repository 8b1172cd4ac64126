"""The contract of function tools: what the worker's registry tells a turn, and each call's in/out.

A turn names registered tools (`TurnRequest.tools`); the workflow asks the worker for their
definitions and policies (`describe_tools`), passes the definitions to the run, and on
`requires_action` runs every call as its own `call_tool` activity with the tool's own timeout and
retries, then submits the outputs (`submit_tool_outputs`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OnError = Literal["submit", "fail"]
"""What a failed call does: submit the error text as its output, or fail the turn (`ToolFailed`)."""

TOOL_ARGUMENTS_INVALID = "ToolArgumentsInvalid"
"""Failure type of a call whose arguments are not JSON or do not fit the tool's signature."""
TOOL_ERROR = "ToolError"
"""Failure type of a call whose function raised (retried per the tool's policy)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCall(_Model):
    """One function call a `requires_action` run waits for."""

    id: str
    name: str
    arguments: str = "{}"


class ToolPolicy(_Model):
    """How the workflow runs calls of one tool."""

    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0, description="attempts after the first one")
    heartbeat_seconds: float | None = Field(default=None, gt=0)
    retry_interval_seconds: float = Field(default=0.5, gt=0)
    on_error: OnError = "submit"


class ToolDescription(_Model):
    """A registered tool: its definition for the run and its policy for the workflow."""

    name: str
    definition: dict[str, Any]
    policy: ToolPolicy = Field(default_factory=ToolPolicy)


class DescribeToolsInput(_Model):
    """Which registered tools a turn wants."""

    names: list[str]


class DescribeToolsOutput(_Model):
    """The tools found, in the order asked, and the names that are not registered."""

    tools: list[ToolDescription] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)


class CallToolInput(_Model):
    """Run one call of a registered tool."""

    name: str
    call_id: str
    arguments: str = "{}"
    thread_id: str = ""
    run_id: str = ""


class CallToolOutput(_Model):
    """The call's output as the run receives it (text; non-text results JSON-encoded)."""

    output: str


class ToolOutput(_Model):
    """One output to submit."""

    tool_call_id: str
    output: str


class SubmitToolOutputsInput(_Model):
    """Submit the outputs of one round of calls."""

    thread_id: str
    run_id: str
    outputs: list[ToolOutput]


class SubmitToolOutputsOutput(_Model):
    """`already_submitted`: the run had left `requires_action` for these calls (a retry)."""

    status: str
    already_submitted: bool = False
