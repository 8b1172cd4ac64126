"""Engine settings: one pydantic-settings class read from `THREADLOOM_*` environment variables.

The worker, the starter API and the command line all build their connections from this class, so a
variable set once (for example `THREADLOOM_TEMPORAL_ADDRESS`) applies everywhere. API keys live here and
in the worker's environment only; they are never copied into workflow inputs or history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where Temporal and the Threads API are, and how the worker runs."""

    model_config = SettingsConfigDict(env_prefix="THREADLOOM_", extra="ignore")

    temporal_address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "threadloom"
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool = False

    threads_base_url: str = "http://127.0.0.1:8700/v1"
    threads_api_key: SecretStr | None = None
    threads_azure_api_version: str | None = None
    threads_timeout_seconds: float = 30.0
    threads_max_connections: int = Field(
        default=1000,
        ge=1,
        description="connections the worker may open to the Threads API; each waiting run holds one",
    )
    max_concurrent_activities: int = Field(
        default=1000,
        ge=1,
        description="activities (and local ones) one worker runs at once; each waiting run holds one",
    )
    max_concurrent_workflow_tasks: int = Field(
        default=10,
        ge=2,
        description="workflow tasks one worker runs at once (all on one event loop: more at once "
        'make each one, and every heartbeat, later; README, "Overload and crash recovery")',
    )
    task_queue_activities_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Temporal's task queue rate limit: activities the whole task queue starts per "
        "second, across all workers (the last worker to poll sets it; default: unlimited)",
    )
    worker_tuner: Literal["fixed", "resource"] = Field(
        default="fixed",
        description="how a worker admits tasks: `fixed` up to max_concurrent_activities, or "
        "`resource` by the host's CPU and memory (Temporal's resource-based tuner; README, "
        '"Overload")',
    )
    worker_target_cpu: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="with worker_tuner=resource: the host CPU use above which no new task starts",
    )
    turn_task_timeout_seconds: float = Field(
        default=3.0,
        ge=1,
        le=60,
        description="workflow task timeout of the turns a starter starts (a conversation's too): "
        "how long a worker killed in the middle of a turn's workflow task holds the turn up",
    )
    conversation_task_timeout_seconds: float = Field(
        default=10.0,
        ge=1,
        le=60,
        description="workflow task timeout of the conversations a starter starts: longer than a "
        "turn's, since a worker without the conversation cached replays up to max_history_events",
    )
    sticky_queue_timeout_seconds: float = Field(
        default=10.0,
        description="how long a workflow task waits for the worker that cached the workflow before "
        "any worker may take it. A retried wait skips it (its activity resets the sticky queue), so "
        "it bounds the rarer tasks a killed worker had cached; shorter ones make a busy live worker's "
        "tasks spill onto the shared queue, behind a burst's new turns",
    )

    embedded_temporal: bool | None = Field(
        default=None,
        description="dev/demo start the Temporal dev server (default: unless an address is set)",
    )
    embedded_threads_server: bool | None = Field(
        default=None, description="dev/demo start the threads server (default: unless a base URL is set)"
    )
    home: Path = Field(default=Path(".threadloom"), description="state of the embedded stack")
    temporal_binary: str | None = Field(default=None, description="path of the `temporal` CLI")
    ui_port: int = 8233
    log_format: str = Field(default="auto", description="auto | console | json")
    log_level: str = "INFO"
    tools: str | None = Field(
        default=None,
        description="tool registries the worker serves: `module:attribute`, comma-separated "
        "(default: none; `dev` and `demo` serve the demo's `starter.demo_tools:registry`)",
    )
    metrics_address: str | None = Field(default=None, description="host:port for Prometheus")

    # Payload encryption and the codec server (README, "Encryption"; `starter.encryption`).
    encryption: bool = Field(
        default=False,
        description="encrypt payloads; without `encryption_keys` the ring is `<home>/encryption-keys`, "
        "which `threadloom dev` creates",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="key ring `id:base64key,…` (32-byte keys): the first encrypts, all decrypt; "
        "setting it turns encryption on",
    )
    encryption_allow_plaintext: bool = Field(
        default=False,
        description="with encryption on, accept payloads that are not encrypted (only while "
        "migrating histories written before encryption; off: they fail to decode)",
    )
    codec_host: str = Field(default="127.0.0.1", description="where `threadloom codec-server` binds")
    codec_port: int = 8234
    codec_token: SecretStr | None = Field(
        default=None,
        description="the codec server's token (default: a new random one each start; required "
        "off loopback)",
    )
    codec_cors_origins: str | None = Field(
        default=None,
        description="browser origins allowed to call the codec server, comma-separated "
        "(default: the dev UI, http://localhost:<ui_port> and http://127.0.0.1:<ui_port>)",
    )

    # The chat page (`threadloom web`, started beside the stack by `threadloom dev`; starter/web).
    web_host: str = Field(default="127.0.0.1", description="where the chat page binds")
    web_port: int = Field(default=8701, ge=0, le=65535, description="the chat page's port")
    web_key: SecretStr | None = Field(
        default=None,
        description="the chat page's key: the browser opens `/?key=…` once (required off loopback)",
    )
    web_ui_url: str | None = Field(
        default=None,
        description="the Temporal UI the page links turns to (default http://localhost:<ui_port>)",
    )
