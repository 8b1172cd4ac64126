"""`threadloom janitor`: install (or update) the Schedule that deletes idle threads, or run one pass.

```
threadloom janitor --retention 30d             # a pass every hour, for threads idle over 30 days
threadloom janitor --retention 30d --dry-run   # the same schedule, passes that only count
threadloom janitor --retention 12h --once      # one pass now; prints its counts
threadloom janitor --remove                    # delete the schedule
```

The janitor finds threads through Temporal's visibility (`activities.janitor`), which forgets a
closed workflow once the namespace's retention has passed. A thread idle for longer than that is
invisible to it, so the command refuses a retention (plus interval) that would not fit inside the
namespace's own retention, instead of installing a schedule that silently misses threads.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta

from pydantic import ValidationError
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError

from threadloom.starter.api import connect_client
from threadloom.starter.errors import TemporalUnavailable
from threadloom.starter.janitor_options import human
from threadloom.starter.settings import Settings
from threadloom.workflows.janitor_contracts import (
    JANITOR_WORKFLOW,
    JanitorInput,
    JanitorResult,
)


class JanitorError(ValueError):
    """Bad janitor options; the message says which and why."""


def janitor_input(args: argparse.Namespace, settings: Settings) -> JanitorInput:
    """The input of each pass, from the command's options."""
    if args.retention is None:
        raise JanitorError("--retention is required, e.g. --retention 30d")
    if args.now is not None and not args.once:
        raise JanitorError("--now only goes with --once (a scheduled pass uses its start time)")
    try:
        return JanitorInput(
            retention_seconds=args.retention.total_seconds(),
            task_queue=settings.task_queue,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            now=args.now,
        )
    except ValidationError as err:
        raise JanitorError(f"invalid janitor options: {err}") from err


async def namespace_retention(client: Client) -> timedelta | None:
    """How long the namespace keeps closed workflows (None: unknown or unlimited)."""
    request = DescribeNamespaceRequest(namespace=client.namespace)
    described = await client.workflow_service.describe_namespace(request)
    ttl = described.config.workflow_execution_retention_ttl
    seconds = ttl.seconds + ttl.nanos / 1e9
    return timedelta(seconds=seconds) if seconds > 0 else None


async def check_fits(client: Client, retention: timedelta, every: timedelta) -> None:
    """Refuse a retention the namespace's visibility cannot cover (module docstring)."""
    try:
        kept = await namespace_retention(client)
    except RPCError as err:  # e.g. an API key that may not describe the namespace
        print(
            f"threadloom janitor: warning: the retention of namespace {client.namespace!r} could "
            f"not be read ({err}); keep --retention plus --every below it",
            file=sys.stderr,
        )
        return
    if kept is not None and retention + every >= kept:
        raise JanitorError(
            f"namespace {client.namespace!r} keeps closed workflows for {human(kept)}, and the "
            f"janitor finds threads through them: --retention {human(retention)} plus --every "
            f"{human(every)} must stay "
            "below it. Choose a shorter retention, or raise the namespace's "
            f"(temporal operator namespace update --namespace {client.namespace} --retention …)"
        )


async def install_schedule(
    client: Client, schedule_id: str, request: JanitorInput, every: timedelta
) -> str:
    """Create the schedule, or update it to these options; returns "created" or "updated"."""
    mode = " (dry run)" if request.dry_run else ""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            JANITOR_WORKFLOW,
            request,
            id=f"{schedule_id}-pass",
            task_queue=request.task_queue,
            static_summary=f"thread retention{mode}: idle over {_span(request.retention_seconds)}",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=f"threadloom janitor: {describe(request, every)}"),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule))
        return "updated"


async def run_once(client: Client, request: JanitorInput) -> JanitorResult:
    """One pass now, waited for."""
    result: JanitorResult = await client.execute_workflow(
        JANITOR_WORKFLOW,
        request,
        id=f"threadloom-janitor-once-{uuid.uuid4().hex[:12]}",
        task_queue=request.task_queue,
        result_type=JanitorResult,
        static_summary=f"thread retention, one pass: idle over {_span(request.retention_seconds)}",
    )
    return result


def describe(request: JanitorInput, every: timedelta) -> str:
    """What the schedule does, in one line."""
    mode = ", dry run" if request.dry_run else ""
    return (
        f"every {human(every)}, threads idle over {_span(request.retention_seconds)} of task queue "
        f"{request.task_queue!r}{mode}"
    )


def _span(seconds: float) -> str:
    return human(timedelta(seconds=seconds))


async def janitor_command(args: argparse.Namespace, settings: Settings) -> int:
    """`threadloom janitor`: exit 0 done, 1 Temporal failed, 2 bad options."""
    try:
        client = await connect_client(settings)
    except TemporalUnavailable as err:
        print(f"threadloom janitor: {err}", file=sys.stderr)
        return 1
    if args.remove:
        try:
            await client.get_schedule_handle(args.schedule_id).delete()
        except RPCError as err:
            print(f"threadloom janitor: schedule {args.schedule_id}: {err}", file=sys.stderr)
            return 1
        print(f"schedule {args.schedule_id} deleted")
        return 0
    try:
        request = janitor_input(args, settings)
        if args.once:
            result = await run_once(client, request)
            mode = "dry run, " if result.dry_run else ""
            counts = result.counts.line(dry_run=result.dry_run)
            print(f"{mode}idle since before {result.cutoff.isoformat()}: {counts}")
            return 0
        await check_fits(client, args.retention, args.every)
    except JanitorError as err:
        print(f"threadloom janitor: {err}", file=sys.stderr)
        return 2
    done = await install_schedule(client, args.schedule_id, request, args.every)
    print(f"schedule {args.schedule_id} {done}: {describe(request, args.every)}")
    return 0
