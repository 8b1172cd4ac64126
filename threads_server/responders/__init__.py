"""Responders produce a run's output: a reply text or function tool calls.

```
Responder.respond(ResponderInput) -> Reply | ToolCalls      raises ResponderError(code, message)
├── EchoResponder            deterministic, offline (`echo.py`)
└── ChatCompletionsResponder OpenAI-compatible chat completions (`chat_completions.py`)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Usage = dict[str, int]


@dataclass(frozen=True)
class ToolRound:
    """One round of function calls of this run, with outputs once submitted."""

    calls: list[dict[str, Any]]  # {"id", "name", "arguments", "output"}


@dataclass(frozen=True)
class ResponderInput:
    """What a responder sees: the run's settings, the thread, and the tool rounds so far."""

    model: str
    instructions: str
    messages: list[dict[str, Any]]  # message objects of the thread, in order
    tools: list[dict[str, Any]]
    rounds: list[ToolRound] = field(default_factory=list)
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    response_format: Any = "auto"

    @classmethod
    def of_run(
        cls, run: dict[str, Any], state: dict[str, Any], messages: list[dict[str, Any]]
    ) -> ResponderInput:
        """The input for `run` (its stored `state` holds the tool rounds) over `messages`."""
        return cls(
            model=run["model"],
            instructions=run["instructions"] or "",
            messages=messages,
            tools=run["tools"],
            rounds=[ToolRound(calls=r["calls"]) for r in state["rounds"]],
            temperature=run["temperature"],
            top_p=run["top_p"],
            max_prompt_tokens=run["max_prompt_tokens"],
            max_completion_tokens=run["max_completion_tokens"],
            tool_choice=run["tool_choice"],
            parallel_tool_calls=run["parallel_tool_calls"],
            response_format=run["response_format"],
        )


@dataclass(frozen=True)
class Reply:
    """A text answer; `incomplete_reason` names a token limit that cut it short."""

    text: str
    usage: Usage
    incomplete_reason: str | None = None
    chunk_delay_ms: float = 0.0
    """Pause between two streamed deltas of the text (the echo responder's stand-in for a model's
    pace, `echo_chunk_delay_ms`)."""


@dataclass(frozen=True)
class ToolCalls:
    """Function calls to make (`{"name", "arguments"}`), answered by submitting outputs."""

    calls: list[dict[str, str]]
    usage: Usage


class ResponderError(Exception):
    """The responder failed; `code` is a run `last_error.code`.

    `retry_after` (seconds) is how long the backend asked callers to wait (`rate_limit_exceeded`).
    """

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def last_error(self) -> dict[str, Any]:
        """The run's `last_error`; a wait the backend asked for is in `retry_after_seconds`.

        `retry_after_seconds` is a threadloom extension of the spec's `{code, message}` (clients
        keep unknown fields): the engine waits that long before it starts another run.
        """
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            error["retry_after_seconds"] = self.retry_after
        return error


class Responder(Protocol):
    """Anything with `async respond(input) -> Reply | ToolCalls`."""

    async def respond(self, request: ResponderInput) -> Reply | ToolCalls: ...


def message_text(message: dict[str, Any]) -> str:
    """The text parts of a message object, joined by newlines."""
    return "\n".join(
        part["text"]["value"] for part in message.get("content", []) if part.get("type") == "text"
    )


def usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    """A usage dict."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
