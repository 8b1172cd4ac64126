"""The Temporal SDK core's runtime: its logs routed into our logging, its metrics in Prometheus format.

The SDK's Rust core logs on its own (coloured text on the console) unless a `Runtime` forwards its
records to a Python logger: `sdk_runtime` forwards them to `temporalio.core`, so they go through the
process's one logging setup (structlog, JSON off a terminal) like every other line, and a storm of
one warning (e.g. thousands of "Activity not found on completion" on a starved worker) is summarized
by `RepeatFilter` instead of flooding the log.

Metrics (`temporal_workflow_completed`, `temporal_activity_execution_latency`, `temporal_request`, ...)
are exported at `http://<address>/metrics` when `THREADLOOM_METRICS_ADDRESS` is set. A process binds
an address once and may build one runtime only per configuration, so runtimes are cached.
"""

from __future__ import annotations

import functools
import logging
import time

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from threadloom.starter.settings import Settings

CORE_LOGGER = "temporalio.core"
REPEAT_WINDOW_SECONDS = 10.0
REPEATS_PER_WINDOW = 5


class RepeatFilter(logging.Filter):
    """Pass a message at most `limit` times per `window` seconds; then say how many were dropped.

    Messages are told apart by logger, level and text template, so one storm is summarized without
    hiding different warnings.
    """

    def __init__(
        self, *, window: float = REPEAT_WINDOW_SECONDS, limit: int = REPEATS_PER_WINDOW
    ) -> None:
        super().__init__()
        self._window, self._limit = window, limit
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        started, count = self._seen.get(key, (now, 0))
        if now - started >= self._window:
            dropped = count - self._limit
            if dropped > 0:
                record.msg = f"{record.msg} (and {dropped} more like it in {self._window:g}s)"
            self._seen[key] = (now, 1)
            return True
        self._seen[key] = (started, count + 1)
        return count < self._limit


@functools.cache
def _runtime(metrics_address: str | None) -> Runtime:
    core = logging.getLogger(CORE_LOGGER)
    if not any(isinstance(f, RepeatFilter) for f in core.filters):
        core.addFilter(RepeatFilter())
    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=core),
    )
    metrics = PrometheusConfig(bind_address=metrics_address) if metrics_address else None
    return Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics))


def sdk_runtime(settings: Settings) -> Runtime:
    """The runtime for this process's Temporal clients and workers (one per metrics address)."""
    return _runtime(settings.metrics_address)
