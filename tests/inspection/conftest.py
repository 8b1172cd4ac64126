"""Inspection tests share the engine tests' fixtures: dev server, threads server, real worker."""

from tests.engine.conftest import (
    assistant_id,
    engine_worker,
    loom,
    task_queue,
    temporal_env,
    thread_id,
    threads,
    threads_server,
)

__all__ = [
    "assistant_id",
    "engine_worker",
    "loom",
    "task_queue",
    "temporal_env",
    "thread_id",
    "threads",
    "threads_server",
]
