"""Threads server settings: `THREADLOOM_SERVER_*` for the server, `THREADLOOM_LLM_*` for the model.

Both classes read the environment (and keyword overrides, which the command line and the test helper
use); nothing else in the server reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    model_config = SettingsConfigDict(env_prefix="THREADLOOM_SERVER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8700
    db_path: Path = Path(".threadloom/threads.db")
    api_key: SecretStr | None = None
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
    stream_queue_max_events: int = Field(
        default=1000, ge=1, description="events a stream may fall behind before its deltas wait"
    )
    stream_stall_seconds: float = Field(
        default=10.0, gt=0, description="how long a full stream may stall before it is dropped"
    )
    shutdown_grace_seconds: float = Field(
        default=5.0, ge=0, description="on SIGTERM, how long executing runs get to finish"
    )
    llm: LLMSettings = Field(default_factory=LLMSettings)
