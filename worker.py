"""The threadloom worker: `python worker.py` runs it until SIGTERM or SIGINT.

It builds the Threads API client once (retries off: Temporal's retry policies own every retry),
binds it to `ThreadsActivities`, and serves `TurnWorkflow` on the configured task queue. The embedded dev
stack reuses `build_worker` and `run_worker`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta
from typing import Any, NoReturn

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import ResourceBasedSlotConfig, Worker, WorkerTuner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from threadloom.activities.conversations import ConversationActivities
from threadloom.activities.janitor import janitor_activities
from threadloom.activities.threads import ThreadsActivities
from threadloom.activities.tool_calls import ToolActivities
from threadloom.activities.tools import ToolRegistry, load_registries
from threadloom.starter.api import connect_client
from threadloom.starter.logging_setup import configure_logging
from threadloom.starter.metrics import sdk_runtime
from threadloom.starter.sandbox_code import keep_compiled
from threadloom.starter.settings import Settings
from threadloom.threads_client import ThreadsClient
from threadloom.workflows.conversation import ConversationWorkflow
from threadloom.workflows.janitor import JanitorWorkflow
from threadloom.workflows.turn import TurnWorkflow

log = logging.getLogger("threadloom.worker")
PYDANTIC_PAYLOADS = pydantic_data_converter.payload_converter_class

LOCAL_ACTIVITY_SLOTS = 1000
"""Default bound of local activities at once (see `build_worker`)."""
WORKFLOW_TASK_SLOTS = 10
"""Default bound of workflow tasks at once (the SDK's is 100): measured, fewer at once keep each
one quick on a loaded worker (README, "Overload and crash recovery")."""
TUNER_MEMORY_TARGET = 0.8
"""The resource-based tuner admits no new task while the host uses more of its memory than this."""

WORKFLOWS = [TurnWorkflow, ConversationWorkflow, JanitorWorkflow]
PASSTHROUGH_MODULES = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "threadloom.workflows.contracts",
    "threadloom.workflows.activity_contracts",
    "threadloom.workflows.conversation_contracts",
    "threadloom.workflows.tool_contracts",
)
"""Imported once outside the sandbox: pydantic and our contract models, which the worker and the
workflows must share. The workflow logic is re-imported inside the sandbox, which is what catches a
workflow calling `datetime.now()` or `uuid4()`; the activities pass through where the workflows
import them (`workflow.unsafe.imports_passed_through()`), for their names only."""


def build_threads_client(settings: Settings) -> ThreadsClient:
    """The Threads API client the activities share; it never retries on its own."""
    api_key = settings.threads_api_key.get_secret_value() if settings.threads_api_key else None
    return ThreadsClient(
        settings.threads_base_url,
        api_key,
        azure_api_version=settings.threads_azure_api_version,
        max_retries=0,
        timeout=settings.threads_timeout_seconds,
        max_connections=settings.threads_max_connections,
    )


def build_worker(
    client: Client,
    threads: ThreadsClient,
    *,
    task_queue: str,
    graceful_shutdown: timedelta = timedelta(seconds=10),
    sticky_queue_timeout: timedelta = timedelta(seconds=10),
    tools: ToolRegistry | None = None,
    max_concurrent_activities: int = 1000,
    max_concurrent_local_activities: int = LOCAL_ACTIVITY_SLOTS,
    max_cached_workflows: int = 1000,
    task_queue_activities_per_second: float | None = None,
    tuner: str = "fixed",
    target_cpu: float = 0.8,
    max_concurrent_workflow_tasks: int = WORKFLOW_TASK_SLOTS,
) -> Worker:
    """A worker serving the workflows and their activities on `task_queue`, with `tools`.

    `max_concurrent_activities` bounds the activities: every turn waiting for its run holds one
    activity slot (and one Threads API connection) while it waits, mostly idle in a long-poll.
    `max_concurrent_local_activities` bounds the short Threads API calls (creating a run and its
    first read) that workflow tasks wait on: the CPU-bound part of a turn, where admitting fewer
    at once keeps each one quick on a loaded worker (`LOCAL_ACTIVITY_SLOTS`).
    `max_concurrent_workflow_tasks` bounds the workflow tasks, which all run on one event loop:
    beyond the loop's pace, more at once only makes each one (and every heartbeat) later.
    `max_cached_workflows=0` replays every workflow task from the start (tests of replay safety).
    `task_queue_activities_per_second` is Temporal's task queue rate limit (README, "Rate limits").
    `tuner="resource"` admits tasks by the host's load instead (Temporal's resource-based tuner):
    no new workflow task, activity or local activity starts while the CPU is above `target_cpu`,
    so a starved worker takes less work and keeps the work it has alive (its heartbeats on time);
    the two bounds above stay its upper limits.
    """
    activities = ThreadsActivities(threads)
    tool_activities = ToolActivities(tools or ToolRegistry())
    conversations = ConversationActivities(threads, client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            activities.add_message,
            activities.create_run,
            activities.wait_for_run,
            activities.cancel_run,
            activities.fetch_reply,
            activities.submit_tool_outputs,
            tool_activities.describe_tools,
            tool_activities.call_tool,
            conversations.open_thread,
            conversations.turn_result,
            *janitor_activities(threads, client),
        ],
        workflow_runner=sandbox_runner(),
        graceful_shutdown_timeout=graceful_shutdown,
        sticky_queue_schedule_to_start_timeout=sticky_queue_timeout,
        **_slots(
            tuner,
            target_cpu,
            max_concurrent_workflow_tasks,
            max_concurrent_activities,
            max_concurrent_local_activities,
        ),
        max_cached_workflows=max_cached_workflows,
        max_task_queue_activities_per_second=task_queue_activities_per_second,
        # An eagerly started activity skips the task queue, and so its rate limit.
        disable_eager_activity_execution=task_queue_activities_per_second is not None,
    )


def _slots(
    tuner: str, target_cpu: float, workflow_tasks: int, activities: int, local_activities: int
) -> dict[str, Any]:
    """The `Worker` options that bound its tasks at once: fixed numbers, or a resource tuner."""
    local_activities = min(local_activities, activities)
    if tuner == "fixed":
        return {
            "max_concurrent_workflow_tasks": workflow_tasks,
            "max_concurrent_activities": activities,
            "max_concurrent_local_activities": local_activities,
        }
    if tuner != "resource":
        raise ValueError(f"unknown worker tuner {tuner!r}: fixed or resource")
    return {
        "tuner": WorkerTuner.create_resource_based(
            target_memory_usage=TUNER_MEMORY_TARGET,
            target_cpu_usage=target_cpu,
            workflow_config=ResourceBasedSlotConfig(minimum_slots=2, maximum_slots=workflow_tasks),
            activity_config=ResourceBasedSlotConfig(minimum_slots=1, maximum_slots=activities),
            local_activity_config=ResourceBasedSlotConfig(
                minimum_slots=1, maximum_slots=local_activities
            ),
        )
    }


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with pydantic and our own contract modules passed through.

    The modules it re-imports for each workflow run are compiled once per process (`sandbox_code`).
    """
    keep_compiled("threadloom")
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


async def run_worker(settings: Settings, *, stop_event: asyncio.Event | None = None) -> None:
    """Connect, serve until `stop_event` is set (or SIGTERM/SIGINT), then shut down cleanly."""
    tools = load_tools(settings.tools) if settings.tools else None  # before connecting: fail fast
    client = await connect_client(settings, runtime=sdk_runtime(settings))
    if client.data_converter.payload_converter_class is not PYDANTIC_PAYLOADS:
        raise RuntimeError("the Temporal client must use pydantic_data_converter (with its codec)")
    stop = stop_event or _stop_on_signals()
    async with build_threads_client(settings) as threads:
        worker = build_worker(
            client,
            threads,
            task_queue=settings.task_queue,
            sticky_queue_timeout=timedelta(seconds=settings.sticky_queue_timeout_seconds),
            tools=tools,
            max_concurrent_activities=settings.max_concurrent_activities,
            task_queue_activities_per_second=settings.task_queue_activities_per_second,
            tuner=settings.worker_tuner,
            target_cpu=settings.worker_target_cpu,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        )
        async with worker:
            log.info(
                "worker started",
                extra={"task_queue": settings.task_queue, "threads": settings.threads_base_url},
            )
            await stop.wait()
            log.info("worker stopping")
    log.info("worker stopped")


class ToolsNotLoaded(RuntimeError):
    """`THREADLOOM_TOOLS` names a registry that cannot be imported; the message says which and why."""


def load_tools(spec: str) -> ToolRegistry:
    """The registries `THREADLOOM_TOOLS` names, found as `python -m` finds modules.

    The current directory goes first on the import path, so `myapp.tools:registry` works from the
    directory that holds `myapp/`, wherever threadloom itself is installed.

    Raises:
        ToolsNotLoaded: a module, attribute or registry of `spec` could not be loaded.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return load_registries(spec)
    except (ImportError, AttributeError, TypeError, ValueError) as error:
        raise ToolsNotLoaded(
            f"THREADLOOM_TOOLS={spec} cannot be loaded from {os.getcwd()}: "
            f"{type(error).__name__}: {error}"
        ) from error


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def main() -> None:
    """Entry point of `python worker.py`."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    code = 0
    try:
        asyncio.run(run_worker(settings))
    except RuntimeError as err:  # the SDK's connection errors are RuntimeErrors
        log.error("worker failed: %s", err, extra={"temporal": settings.temporal_address})
        code = 1
    exit_without_teardown(code)


def exit_without_teardown(code: int) -> NoReturn:
    """Flush and exit, skipping interpreter finalization.

    The SDK's Rust threads can still call into Python while the interpreter finalizes, which
    sometimes aborts a cleanly stopped process (SIGABRT, "PyGILState_Release", temporalio/sdk-python
    issue 300); after a graceful shutdown nothing is left to clean up, so skip that phase.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
