"""`ToolActivities`: the worker side of function tools — describe registered tools, run one call.

Each call is its own activity attempt: arguments that are not JSON or do not fit the signature fail
at once (`ToolArgumentsInvalid`, never retried); a function that raises fails the attempt
(`ToolError`), which Temporal retries as the tool declares. Sync functions run in a thread so the
worker keeps heartbeating beside them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from threadloom.activities.liveness import heartbeating
from threadloom.activities.tools import ToolRegistry
from threadloom.workflows.tool_contracts import (
    TOOL_ARGUMENTS_INVALID,
    TOOL_ERROR,
    CallToolInput,
    CallToolOutput,
    DescribeToolsInput,
    DescribeToolsOutput,
)


class ToolActivities:
    """Activities serving one `ToolRegistry`."""

    def __init__(self, registry: ToolRegistry) -> None:
        self._registry = registry

    @activity.defn
    async def describe_tools(self, request: DescribeToolsInput) -> DescribeToolsOutput:
        """Definitions and policies of the named tools; names not registered are listed apart."""
        tools, unknown = [], []
        for name in request.names:
            tool = self._registry.get(name)
            if tool is None:
                unknown.append(name)
            else:
                tools.append(tool.description)
        return DescribeToolsOutput(tools=tools, unknown=unknown)

    @activity.defn
    async def call_tool(self, request: CallToolInput) -> CallToolOutput:
        """Run one call of a registered tool and return its output as text."""
        tool = self._registry.get(request.name)
        if tool is None:
            raise ApplicationError(
                f"unknown tool {request.name!r}", type=TOOL_ARGUMENTS_INVALID, non_retryable=True
            )
        kwargs = _arguments(tool.arguments, request)
        activity.logger.info("calling tool %s (call %s)", request.name, request.call_id)
        async with heartbeating():
            try:
                if inspect.iscoroutinefunction(tool.function):
                    result = await tool.function(**kwargs)
                else:
                    result = await asyncio.to_thread(tool.function, **kwargs)
            except (asyncio.CancelledError, ApplicationError):
                raise
            except Exception as err:
                raise ApplicationError(f"{type(err).__name__}: {err}", type=TOOL_ERROR) from err
        return CallToolOutput(output=as_output(result))


def _arguments(model: type[BaseModel], request: CallToolInput) -> dict[str, Any]:
    """The call's arguments checked against the tool's signature."""
    try:
        raw = json.loads(request.arguments or "{}")
        if not isinstance(raw, dict):
            raise ValueError("arguments must be a JSON object")
        parsed = model.model_validate(raw)
    except (ValueError, ValidationError) as err:
        raise ApplicationError(
            f"bad arguments for {request.name}: {err}",
            type=TOOL_ARGUMENTS_INVALID,
            non_retryable=True,
        ) from err
    return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def as_output(result: Any) -> str:
    """A tool result as the text a run receives: strings as they are, anything else as JSON."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(result, default=str)
