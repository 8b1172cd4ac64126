"""A worker in its own process (`python -m threadloom.benchmarks.worker_process`), to read its memory.

`--kind turn` serves threadloom's real worker (`worker.build_worker`); `--kind noop` the baseline.
It prints `ready` once polling, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import timedelta

from temporalio.worker import Worker

from threadloom.benchmarks.noop import (
    NoopTurnWorkflow,
    NoopWaitTurnWorkflow,
    noop_ended,
    noop_local,
    noop_wait,
)
from threadloom.starter.api import connect_client
from threadloom.starter.logging_setup import configure_logging
from threadloom.starter.settings import Settings
from threadloom.worker import (
    LOCAL_ACTIVITY_SLOTS,
    build_threads_client,
    build_worker,
    exit_without_teardown,
    sandbox_runner,
)


async def serve(kind: str, settings: Settings, local_activities: int | None) -> None:
    """Run the worker of `kind` until SIGTERM or SIGINT."""
    client = await connect_client(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with build_threads_client(settings) as threads:
        if kind == "turn":
            worker = build_worker(
                client,
                threads,
                task_queue=settings.task_queue,
                max_concurrent_activities=settings.max_concurrent_activities,
                max_concurrent_local_activities=local_activities or LOCAL_ACTIVITY_SLOTS,
                tuner=settings.worker_tuner,
                target_cpu=settings.worker_target_cpu,
                max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
                sticky_queue_timeout=timedelta(seconds=settings.sticky_queue_timeout_seconds),
            )
        else:
            worker = Worker(
                client,
                task_queue=settings.task_queue,
                workflows=[NoopTurnWorkflow, NoopWaitTurnWorkflow],
                activities=[noop_local, noop_ended, noop_wait],
                workflow_runner=sandbox_runner(),
                max_concurrent_activities=settings.max_concurrent_activities,
                max_concurrent_local_activities=settings.max_concurrent_activities,
            )
        async with worker:
            print("ready", flush=True)
            await stop.wait()


def main() -> None:
    """Parse the flags and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("turn", "noop"), required=True)
    parser.add_argument("--temporal-address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--threads-base-url", required=True)
    parser.add_argument(
        "--local-activities", type=int, help="local activity slots (default: the worker's)"
    )
    args = parser.parse_args()
    configure_logging("json", "WARNING")  # to stderr, the stack's log file; stdout says `ready`
    settings = Settings(
        temporal_address=args.temporal_address,
        task_queue=args.task_queue,
        threads_base_url=args.threads_base_url,
    )
    asyncio.run(serve(args.kind, settings, args.local_activities))
    sys.stdout.flush()
    exit_without_teardown(0)


if __name__ == "__main__":
    main()
