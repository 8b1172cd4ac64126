"""The `echo` responder: deterministic, offline, and able to call function tools on request.

The reply to a run is `Echo: <text of the last user message>`. Each line `/tool NAME {json}` of that
message becomes a call of function NAME (if the run has such a function tool); all such lines form one
step of parallel calls, and a line `/then` starts the next round, asked for after the outputs of the
previous one are submitted. Once every round is answered the reply is
`Echo: <text without the /tool and /then lines>` followed by one line `[NAME] <output>` per output.
Tokens are counted as whitespace-separated words.

File search (runs with the `file_search` tool): each line `search: QUERY` of that message searches the
run's vector stores (the assistant's and the thread's). The reply is the echo as above, then one line
per search line, in order: `From NAME: "QUOTE"【s:i†NAME】` quoting the top hit: of its paragraphs
(Markdown heading lines left out), the first that holds the most of the query's words, on one line,
cut to `QUOTE_CHARS` at a word. The marker carries a
`file_citation` annotation for that file; or `No results for "QUERY".` when nothing matched. Without
the tool, a `search:` line is echoed like any other text.
Streamed, a reply's deltas (`stream_delta_words` words each) follow each other
`echo_chunk_delay_ms` apart (`THREADLOOM_SERVER_ECHO_CHUNK_DELAY_MS`, default 0: all at once), so
streaming shows in a demo and can be measured; on a server with faults enabled a run's metadata
`echo_chunk_delay_ms` sets its own pause (at most 1 s). The runner applies the pause
(`runner.Runner._echo_chunk_delay_ms`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from threadloom.threads_server.file_search import FileSearch, cite, marker
from threadloom.threads_server.responders import (
    Reply,
    ResponderInput,
    ToolCalls,
    message_text,
    usage,
)

TOOL_LINE = re.compile(r"^/tool\s+([A-Za-z0-9_-]{1,64})(?:\s+(.*))?$")
SEARCH_LINE = re.compile(r"^search:\s*(\S.*)$", re.IGNORECASE)
QUOTE_CHARS = 300


def count_tokens(text: str) -> int:
    """Whitespace-separated words: the echo responder's stand-in for tokens."""
    return len(text.split())


def _arguments(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return "{}"
    try:
        return json.dumps(json.loads(raw))
    except json.JSONDecodeError:
        return None


def parse_rounds(text: str, functions: set[str]) -> tuple[list[list[dict[str, str]]], list[str]]:
    """Split a message into tool-call rounds and the remaining text lines."""
    rounds: list[list[dict[str, str]]] = [[]]
    remaining: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "/then":
            rounds.append([])
            continue
        match = TOOL_LINE.match(stripped)
        arguments = _arguments(match.group(2)) if match else None
        if match and match.group(1) in functions and arguments is not None:
            rounds[-1].append({"name": match.group(1), "arguments": arguments})
            continue
        remaining.append(line)
    return [calls for calls in rounds if calls], remaining


class EchoResponder:
    """See the module docstring."""

    async def respond(self, request: ResponderInput) -> Reply | ToolCalls:
        """Answer the last user message, or ask for the next round of tool calls."""
        users = [m for m in request.messages if m.get("role") == "user"]
        text = message_text(users[-1]) if users else ""
        functions = {
            tool["function"]["name"] for tool in request.tools if tool.get("type") == "function"
        }
        rounds, remaining = parse_rounds(text, functions)
        prompt_tokens = count_tokens(request.instructions) + sum(
            count_tokens(message_text(m)) for m in request.messages
        )
        if request.max_prompt_tokens is not None and prompt_tokens > request.max_prompt_tokens:
            return Reply("", usage(request.max_prompt_tokens, 0), "max_prompt_tokens")
        done = len(request.rounds)
        if done < len(rounds):
            calls = rounds[done]
            return ToolCalls(calls, usage(prompt_tokens, sum(len(c["arguments"]) for c in calls)))
        reply = self._reply(text, remaining, request.rounds, bool(rounds))
        annotations: list[dict[str, Any]] = []
        if request.file_search is not None:
            reply, annotations = await _searched(reply, text, request.file_search)
        limited = _limit(reply, prompt_tokens, request.max_completion_tokens)
        kept = [a for a in annotations if a["end_index"] <= len(limited.text)]
        return Reply(limited.text, limited.usage, limited.incomplete_reason, kept)

    @staticmethod
    def _reply(text: str, remaining: list[str], rounds: list[Any], called: bool) -> str:
        if not called:
            return f"Echo: {text}"
        lines = [f"Echo: {chr(10).join(remaining).strip()}"]
        for tool_round in rounds:
            lines.extend(f"[{call['name']}] {call['output']}" for call in tool_round.calls)
        return "\n".join(lines)


def best_passage(text: str, query: str) -> str:
    """The paragraph of `text` holding most of the query's words (the first of equals)."""
    words = {word for word in re.findall(r"\w+", query.lower()) if len(word) > 2}
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        kept = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        if kept.strip():
            paragraphs.append(kept)
    if not paragraphs:
        return text
    found = [len(words & set(re.findall(r"\w+", p.lower()))) for p in paragraphs]
    return paragraphs[found.index(max(found))]


def quote(text: str, most: int = QUOTE_CHARS) -> str:
    """`text` on one line, cut at a word to at most `most` characters (`…` marks a cut)."""
    flat = " ".join(text.split())
    if len(flat) <= most:
        return flat
    cut = flat[: most - 1].rsplit(" ", 1)[0] if " " in flat[: most - 1] else flat[: most - 1]
    return cut + "…"


async def _searched(reply: str, text: str, file_search: FileSearch) -> tuple[str, list[dict[str, Any]]]:
    """The reply with one line per `search:` line of `text`, and its citations."""
    queries = [
        m.group(1).strip() for m in (SEARCH_LINE.match(line.strip()) for line in text.splitlines()) if m
    ]
    lines = [reply]
    for query in queries:
        hits = await file_search.search(query)
        if not hits:
            lines.append(f'No results for "{query}".')
            continue
        number = len(file_search.calls) - 1
        top = hits[0]
        passage = quote(best_passage(top.text, query))
        lines.append(f'From {top.filename}: "{passage}"{marker(number, 0, top.filename)}')
    reply = "\n".join(lines)
    return reply, cite(reply, file_search.calls)


def _limit(reply: str, prompt_tokens: int, max_completion_tokens: int | None) -> Reply:
    words = reply.split(" ")
    completion = count_tokens(reply)
    if max_completion_tokens is None or completion <= max_completion_tokens:
        return Reply(reply, usage(prompt_tokens, completion))
    kept: list[str] = []
    for word in words:
        if count_tokens(" ".join([*kept, word])) > max_completion_tokens:
            break
        kept.append(word)
    cut = " ".join(kept)
    return Reply(cut, usage(prompt_tokens, count_tokens(cut)), "max_completion_tokens")
