"""The chat-completions responder: any OpenAI-compatible `/chat/completions` endpoint.

The run's instructions become the system message, the thread's messages follow in order, and every
tool round of the run so far is replayed as an assistant `tool_calls` message plus one `tool` message
per output. Function tools are offered as chat tools; an answer with `tool_calls` becomes
`requires_action`, `finish_reason == "length"` an `incomplete` run (`max_completion_tokens`).

With the `file_search` tool the model is also offered a function `file_search(query)` and told how to
cite. Its calls of that function are answered here, not by the client: each query is searched
(`ResponderInput.file_search`), the results go back as `tool` messages, each headed by its citation
marker `【s:i†name】`, and the model is asked again, for at most `SEARCH_ROUNDS` rounds (the last
one with `tool_choice: "none"`). Markers the final answer copies become `file_citation`s. When an
answer asks for the run's own functions as well as searches, the searches are made (and shown in
the run's step) and the function calls go to the client as usual.
"""

from __future__ import annotations

import json
import math
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from threadloom.threads_server.file_search import FileSearch, cite, marker
from threadloom.threads_server.responders import (
    Reply,
    ResponderError,
    ResponderInput,
    ToolCalls,
    message_text,
    usage,
)
from threadloom.threads_server.settings import LLMSettings


def build_request(request: ResponderInput, model: str) -> dict[str, Any]:
    """The chat-completions request body for a run."""
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    for message in request.messages:
        text = message_text(message)
        if text:
            messages.append({"role": message["role"], "content": text})
    for tool_round in request.rounds:
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                    for call in tool_round.calls
                ],
            }
        )
        messages.extend(
            {"role": "tool", "tool_call_id": call["id"], "content": call["output"] or ""}
            for call in tool_round.calls
        )
    body: dict[str, Any] = {"model": model, "messages": messages}
    tools = [
        {"type": "function", "function": tool["function"]}
        for tool in request.tools
        if tool.get("type") == "function"
    ]
    if request.file_search is not None:
        tools.append(SEARCH_TOOL)
        messages.insert(1 if request.instructions else 0, {"role": "system", "content": SEARCH_HINT})
    if tools:
        body["tools"] = tools
        body["parallel_tool_calls"] = request.parallel_tool_calls
        choice = request.tool_choice
        if isinstance(choice, dict) and choice.get("type") == "function":
            body["tool_choice"] = {"type": "function", "function": choice["function"]}
        elif isinstance(choice, dict) and choice.get("type") == "file_search" and request.file_search:
            body["tool_choice"] = {"type": "function", "function": {"name": SEARCH_NAME}}
        elif choice in ("none", "auto", "required"):
            body["tool_choice"] = choice
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.max_completion_tokens is not None:
        body["max_tokens"] = request.max_completion_tokens
    if isinstance(request.response_format, dict):
        body["response_format"] = request.response_format
    return body


SEARCH_NAME = "file_search"
SEARCH_ROUNDS = 3
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": SEARCH_NAME,
        "description": "Search the files available to this conversation; returns the best passages.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "what to look for"}},
            "required": ["query"],
        },
    },
}
SEARCH_HINT = (
    "You can search the user's files with the file_search tool. Each result starts with a marker "
    "like 【0:1†notes.md】; when your answer uses a result, copy its marker right after the words "
    "it supports."
)


def search_results(number: int, hits: list[Any]) -> str:
    """The `tool` message answering search `number`: each hit headed by its citation marker."""
    if not hits:
        return "No results."
    return "\n\n".join(
        f"{marker(number, index, hit.filename)}\n{hit.text}" for index, hit in enumerate(hits)
    )


MAX_RETRY_AFTER_SECONDS = 3600.0
"""A longer (or unparseable) `Retry-After` is not passed on: the engine then uses its own backoff."""


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), if sane."""
    seconds: float | None = None
    try:
        if "retry-after-ms" in headers:
            seconds = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            value = headers["retry-after"].strip()
            try:
                seconds = float(value)
            except ValueError:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
    except (ValueError, TypeError, OverflowError):
        return None
    if seconds is None or not math.isfinite(seconds):
        return None
    return round(max(0.0, seconds), 3) if seconds <= MAX_RETRY_AFTER_SECONDS else None


def upstream_error(response: httpx.Response) -> ResponderError:
    """The run failure for an error answer of the model backend.

    429 → `rate_limit_exceeded` with the backend's `Retry-After`; any other 4xx → `invalid_prompt`,
    which the engine does not retry (the same request would be refused again: unknown model, bad
    key, a prompt the model does not accept); 5xx → `server_error`, retried.
    """
    status = response.status_code
    detail = f"The model backend answered {status}: {response.text[:300]}"
    if status == 429:
        return ResponderError("rate_limit_exceeded", detail, retry_after=retry_after(response.headers))
    if 400 <= status < 500:
        return ResponderError("invalid_prompt", detail)
    return ResponderError("server_error", detail)


class ChatCompletionsResponder:
    """Calls `POST {base_url}/chat/completions` once per round."""

    def __init__(self, settings: LLMSettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def respond(self, request: ResponderInput) -> Reply | ToolCalls:
        """Ask the model (again after each round of searches); map its answer onto the run."""
        body = build_request(request, self._settings.model or request.model)
        search = request.file_search
        spent = usage(0, 0)
        for round_number in range(SEARCH_ROUNDS + 1):
            if search is not None and round_number == SEARCH_ROUNDS:
                body["tool_choice"] = "none"  # the last round answers with what it found
            answer = await self._ask(body)
            spent = {key: spent[key] + answer.usage[key] for key in spent}
            if isinstance(answer, Reply):
                annotations = cite(answer.text, search.calls) if search is not None else []
                return Reply(answer.text, spent, answer.incomplete_reason, annotations)
            searches = [c for c in answer.calls if c["name"] == SEARCH_NAME] if search else []
            functions = [c for c in answer.calls if c not in searches]
            if not searches or search is None:
                return ToolCalls(answer.calls, spent)
            await self._search(body, searches, search)
            if isinstance(body.get("tool_choice"), dict):
                body["tool_choice"] = "auto"  # a forced search was made: now the model may answer
            if functions:
                return ToolCalls(functions, spent)
        raise ResponderError("server_error", "The model kept searching past its rounds.")

    @staticmethod
    async def _search(body: dict[str, Any], calls: list[dict[str, str]], search: FileSearch) -> None:
        """Make the searches the model asked for and add the exchange to the request `body`."""
        ids = [f"search_{len(search.calls) + index}" for index in range(len(calls))]
        body["messages"].append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": dict(call)}
                    for call_id, call in zip(ids, calls, strict=True)
                ],
            }
        )
        for call_id, call in zip(ids, calls, strict=True):
            try:
                query = str(json.loads(call["arguments"]).get("query") or "")
            except (ValueError, AttributeError):
                query = ""
            hits = await search.search(query)
            content = search_results(len(search.calls) - 1, hits)
            body["messages"].append({"role": "tool", "tool_call_id": call_id, "content": content})

    async def _ask(self, body: dict[str, Any]) -> Reply | ToolCalls:
        """One chat-completions call: a text answer or the calls it asks for."""
        base_url = (self._settings.base_url or "").rstrip("/")
        headers = {}
        if self._settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self._settings.api_key.get_secret_value()}"
        try:
            response = await self._client.post(
                f"{base_url}/chat/completions", json=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ResponderError("server_error", f"Model request failed: {exc!r}") from exc
        if response.status_code >= 400:
            raise upstream_error(response)
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ResponderError("server_error", "Malformed chat-completions answer.") from exc
        raw_usage = data.get("usage") or {}
        spent = usage(
            int(raw_usage.get("prompt_tokens") or 0), int(raw_usage.get("completion_tokens") or 0)
        )
        if message.get("tool_calls"):
            calls = [
                {
                    "name": call["function"]["name"],
                    "arguments": call["function"].get("arguments") or "{}",
                }
                for call in message["tool_calls"]
            ]
            return ToolCalls(calls, spent)
        reason = "max_completion_tokens" if choice.get("finish_reason") == "length" else None
        return Reply(message.get("content") or "", spent, reason)
