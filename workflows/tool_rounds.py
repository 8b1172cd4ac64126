"""One `requires_action` round inside `TurnWorkflow`: every call its own activity, all at once.

A call of a tool the turn did not register gets an error text as its output (the model can recover);
so does a call whose tool fails for good under `on_error="submit"`. Under `on_error="fail"` the
round raises `ToolFailed` at once, cancelling the calls still running, and the workflow cancels the
run before it ends.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from threadloom.activities.tool_calls import ToolActivities
    from threadloom.workflows.contracts import ErrorType
    from threadloom.workflows.tool_contracts import (
        TOOL_ARGUMENTS_INVALID,
        CallToolInput,
        DescribeToolsInput,
        ToolCall,
        ToolDescription,
        ToolOutput,
    )

from threadloom.workflows import activity_options as opts
from threadloom.workflows.outcomes import turn_failure

FAIL_FAST_PATCH = "tool-failure-cancels-siblings"
"""Since this patch a `fail` tool's failure cancels the round's other calls; before it, the round
waited for all of them (retries included) first."""


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
    """The outputs of `calls`, in call order; raises `ToolFailed` for a failing `fail` tool.

    The first failure cancels the calls still running (since `FAIL_FAST_PATCH`): the turn fails
    now, not after every sibling's retries, and no sibling keeps working for a turn that is over.
    """
    tasks = [asyncio.create_task(_call(tools.get(call.name), call, thread_id, run_id)) for call in calls]
    pending, failure = tasks, None
    while pending:
        _, pending = await workflow.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        failure = _first_failure(tasks)  # before any cancel: the cancelled calls fail too
        if pending and failure is not None and workflow.patched(FAIL_FAST_PATCH):
            for task in pending:
                task.cancel()
            await workflow.wait(pending)
            break
    if failure is not None:
        raise failure
    return [
        ToolOutput(tool_call_id=call.id, output=task.result())
        for call, task in zip(calls, tasks, strict=True)
    ]


def _first_failure(tasks: list[asyncio.Task[str]]) -> BaseException | None:
    """The failure of the first call (in call order) that failed, if any has."""
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            return task.exception()
    return None


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
