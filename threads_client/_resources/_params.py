"""Typed keyword options shared by the calls that create runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from pydantic import BaseModel

__all__ = ["MessageParam", "RunCreateOptions", "RunOptions", "ThreadRunOptions", "ToolParam"]

ToolParam = Mapping[str, Any] | BaseModel
"""A tool: a dict such as ``{"type": "function", "function": {...}}`` or a tool model."""

MessageParam = Mapping[str, Any]
"""A message to create: ``{"role": "user", "content": "…", "attachments"?, "metadata"?}``."""


class RunOptions(TypedDict, total=False):
    """Options of a new run that override the assistant's; ``None`` means not given."""

    model: str | None
    instructions: str | None
    tools: Sequence[ToolParam] | None
    metadata: Mapping[str, str] | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: Mapping[str, Any] | BaseModel | None
    tool_choice: str | Mapping[str, Any] | BaseModel | None
    parallel_tool_calls: bool | None
    response_format: str | Mapping[str, Any] | BaseModel | None
    reasoning_effort: str | None


class RunCreateOptions(RunOptions, total=False):
    """Options of ``runs.create``: the run options plus extra instructions and messages."""

    additional_instructions: str | None
    additional_messages: Sequence[MessageParam] | None


class ThreadRunOptions(RunOptions, total=False):
    """Options of ``threads.create_and_run``: the run options plus the thread's tool resources."""

    tool_resources: Mapping[str, Any] | BaseModel | None
