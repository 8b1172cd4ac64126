"""Threads server settings: `THREADLOOM_SERVER_*` for the server, `THREADLOOM_LLM_*` for the model.

Both classes read the environment (and keyword overrides, which the command line and the test helper
use); nothing else in the server reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from threadloom.threads_server.auth import exposure_problem
from threadloom.threads_server.storage.target import DatabaseTarget

ResponderName = Literal["auto", "echo", "chat_completions"]


class LLMSettings(BaseSettings):
    """An OpenAI-compatible chat-completions backend; unset `base_url` means no model is configured."""

    model_config = SettingsConfigDict(env_prefix="THREADLOOM_LLM_", extra="ignore")

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = Field(
        default=None, description="when set, every chat request uses this model name"
    )
    timeout_seconds: float = 120.0


class ServerSettings(BaseSettings):
    """How the threads server listens, stores and runs."""

    # hide_input_in_errors: a refused `database_url` must not be repeated, password and all.
    model_config = SettingsConfigDict(
        env_prefix="THREADLOOM_SERVER_", extra="ignore", hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = 8700
    db_path: Path = Field(
        default=Path(".threadloom/threads.db"), description="the SQLite file, unless `database_url`"
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="a `postgresql://user:password@host:port/db` URL or a SQLite path (over db_path)",
    )
    database_pool_size: int = Field(
        default=4, ge=1, le=100, description="PostgreSQL: connections (and threads) per server process"
    )
    api_key: SecretStr | None = Field(
        default=None, description="when set, every route but the health check needs it"
    )
    insecure_no_auth: bool = Field(
        default=False, description="allow a non-loopback host without an API key (logged loudly)"
    )
    responder: ResponderName = Field(
        default="auto",
        description="auto: `echo` unless a model is configured and the run's model is not `echo`",
    )
    faults_enabled: bool = False
    run_expiry_seconds: float = 600.0
    long_poll_max_ms: int = 10_000
    poll_after_ms: int = 500
    idempotency_retention_seconds: int = Field(
        default=86_400,
        ge=0,
        description="how long an `Idempotency-Key` is remembered; 0 turns the extension off",
    )
    stream_delta_words: int = Field(default=4, description="words per streamed message delta")
    echo_chunk_delay_ms: float = Field(
        default=0.0,
        ge=0,
        le=10_000,
        description="echo responder: pause between two streamed deltas of a reply, so streaming "
        "shows in a demo and in tests (with faults enabled a run's metadata may set its own)",
    )
    # Limits on what a request may hold (docs/server.md, "Limits"); over them a request is refused
    # with 400 (413 for the body size) and writes nothing.
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1, description="request body size; 413 past it, before buffering"
    )
    max_json_depth: int = Field(default=64, ge=2, description="nesting of arrays/objects in a body")
    max_message_chars: int = Field(
        default=256_000, ge=1, description="text of one message (all its text parts)"
    )
    max_instructions_chars: int = Field(
        default=256_000, ge=1, description="`instructions` / `additional_instructions`"
    )
    max_tool_chars: int = Field(
        default=65_536,
        ge=1,
        description="one function definition, or one response-format JSON schema, as JSON",
    )
    max_messages_per_thread: int = Field(default=100_000, ge=1, description="messages on a thread")
    stream_queue_max_events: int = Field(
        default=1000, ge=1, description="events a stream may fall behind before its deltas wait"
    )
    stream_stall_seconds: float = Field(
        default=10.0, gt=0, description="how long a full stream may stall before it is dropped"
    )
    shutdown_grace_seconds: float = Field(
        default=5.0, ge=0, description="on SIGTERM, how long executing runs get to finish"
    )
    replica_lease_seconds: float = Field(
        default=5.0,
        gt=0,
        description="PostgreSQL: how long a replica's claim on a run lasts unless renewed (takeover)",
    )
    llm: LLMSettings = Field(default_factory=LLMSettings)

    @field_validator("db_path", mode="before")
    @classmethod
    def _a_path_not_a_url(cls, value: object) -> object:
        """`db_path` is a file: a URL there would become a folder named `postgresql:`."""
        if DatabaseTarget.parse(str(value)).kind != "sqlite":
            raise ValueError("db_path takes a file path; give a database URL as database_url (--db)")
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _a_known_target(cls, value: SecretStr | None) -> SecretStr | None:
        """A path or a `postgresql://` URL (the message never repeats the password)."""
        if value is not None:
            DatabaseTarget.parse(value.get_secret_value())
        return value

    @property
    def database(self) -> DatabaseTarget:
        """Where the data lives: `database_url` if set, else the SQLite file `db_path`."""
        if self.database_url is not None:
            return DatabaseTarget.parse(self.database_url.get_secret_value())
        return DatabaseTarget.parse(str(self.db_path))

    @model_validator(mode="after")
    def _secure_by_default(self) -> ServerSettings:
        """An empty key is a mistake, not "no auth"; no key means loopback only (see `auth`)."""
        if self.api_key is not None and not self.api_key.get_secret_value().strip():
            raise ValueError(
                "THREADLOOM_SERVER_API_KEY (--api-key) is set but empty; give a key, or unset it"
            )
        problem = exposure_problem(self.host, self.api_key is not None, self.insecure_no_auth)
        if problem:
            raise ValueError(problem)
        return self
