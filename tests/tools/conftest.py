"""Tool tests reuse the engine fixtures (one Temporal dev server, one threads server)."""

from tests.engine.conftest import (  # noqa: F401
    assistant_id,
    control,
    engine_worker,
    loom,
    task_queue,
    temporal_env,
    thread_id,
    threads,
    threads_server,
)
