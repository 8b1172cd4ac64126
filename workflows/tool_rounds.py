"""One `requires_action` round inside `TurnWorkflow`: every call its own activity, all at once.

A call of a tool the turn did not register gets an error text as its output (the model can recover);
so does a call whose tool fails for good under `on_error="submit"`. Under `on_error="fail"` the
round raises `ToolFailed` and the workflow cancels the run before it ends.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.tool_calls import ToolActivities
    from workflows import activity_options as opts
    from workflows.contracts import ErrorType
    from workflows.outcomes import turn_failure
    from workflows.tool_contracts import (
        TOOL_ARGUMENTS_INVALID,
        CallToolInput,
        DescribeToolsInput,
        ToolCall,
        ToolDescription,
        ToolOutput,
    )


async def describe_tools(names: list[str]) -> dict[str, ToolDescription]:
    """Definitions and policies of the named tools, from the worker's registry.

    Raises:
        ApplicationError: `InvalidRequest` when a name is not registered (before anything is written).
    """
    with turn_failure():
        described = await workflow.execute_local_activity_method(
            ToolActivities.describe_tools,
            DescribeToolsInput(names=names),
            summary="describe tools",
            **opts.read_options(),
        )
    if described.unknown:
        raise ApplicationError(
            f"tools not registered in the worker: {', '.join(described.unknown)}",
            {"unknown_tools": described.unknown},
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        )
    return {tool.name: tool for tool in described.tools}


async def run_tool_round(
    tools: dict[str, ToolDescription], calls: list[ToolCall], *, thread_id: str, run_id: str
) -> list[ToolOutput]:
    """The outputs of `calls`, in call order; raises `ToolFailed` for a failing `fail` tool."""
    results = await asyncio.gather(
        *(_call(tools.get(call.name), call, thread_id, run_id) for call in calls),
        return_exceptions=True,
    )
    outputs = []
    for call, result in zip(calls, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        outputs.append(ToolOutput(tool_call_id=call.id, output=result))
    return outputs


async def _call(tool: ToolDescription | None, call: ToolCall, thread_id: str, run_id: str) -> str:
    if tool is None:
        workflow.logger.warning("run %s called unknown tool %s", run_id, call.name)
        return f"error: unknown tool {call.name!r}"
    policy = tool.policy
    try:
        done = await workflow.execute_activity_method(
            ToolActivities.call_tool,
            CallToolInput(
                name=call.name,
                call_id=call.id,
                arguments=call.arguments,
                thread_id=thread_id,
                run_id=run_id,
            ),
            summary=f"call tool {call.name}",
            start_to_close_timeout=timedelta(seconds=policy.timeout_seconds),
            heartbeat_timeout=(
                timedelta(seconds=policy.heartbeat_seconds) if policy.heartbeat_seconds else None
            ),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=policy.retry_interval_seconds),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=max(10.0, policy.retry_interval_seconds)),
                maximum_attempts=policy.retries + 1,
                non_retryable_error_types=[TOOL_ARGUMENTS_INVALID],
            ),
        )
    except ActivityError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        if policy.on_error == "fail":
            raise ApplicationError(
                f"tool {call.name} failed: {reason}",
                {"tool": call.name, "call_id": call.id, "run_id": run_id},
                type=ErrorType.TOOL_FAILED,
                non_retryable=True,
            ) from err
        workflow.logger.warning("tool %s failed, submitting the error: %s", call.name, reason)
        return f"error: {reason}"
    return done.output
