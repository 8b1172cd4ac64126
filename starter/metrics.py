"""Temporal SDK metrics in Prometheus format, off unless `THREADLOOM_METRICS_ADDRESS` is set.

The SDK's core emits its metrics (`temporal_workflow_completed`, `temporal_activity_execution_latency`,
`temporal_request`, ... ) through a `Runtime`; a runtime with a Prometheus exporter serves them at
`http://<address>/metrics`. A process binds the address once, so the runtime is built once per address
and shared by every client of the process that asks for it.
"""

from __future__ import annotations

import functools

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from starter.settings import Settings


@functools.cache
def _prometheus_runtime(bind_address: str) -> Runtime:
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The runtime that exports metrics on `settings.metrics_address`, or None (the SDK default)."""
    if not settings.metrics_address:
        return None
    return _prometheus_runtime(settings.metrics_address)
