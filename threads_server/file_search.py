"""The `file_search` tool in a run: the stores it searches, the searches made, their step, citations.

```
FileSearch.for_run(db, run, assistant)   None unless the run has the file_search tool; searches the
                                         assistant's stores and the thread's (that one once ready)
  .search(query) -> [Hit]                through `retrieval.search`, with the tool's options; each
                                         call is remembered for the run's step
step_details(calls)                      the `tool_calls` step: one `file_search` call per search
cite(text, calls) -> annotations         `file_citation`s for the markers 【s:i†name】 in a reply
```

A reply cites result `i` of search `s` (both from 0, in the order the run searched) by the marker
`【s:i†file name】`, the shape OpenAI's hosted file_search put in replies, so apps that strip or render
those markers keep working. Each marker in the text becomes one annotation whose `text` is the marker
and whose `start_index`/`end_index` are its span in the text (Python string indices).

Readiness (FILES-BEHAVIOUR.md): before searching, a run waits up to `READY_WAIT_SECONDS` while the
*thread's* store still has files in processing; the assistant's stores are searched as they are.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

from threadloom.threads_server import retrieval
from threadloom.threads_server.ids import new_id
from threadloom.threads_server.storage import Database
from threadloom.threads_server.tool_resources import thread_store

READY_WAIT_SECONDS = 60.0
DEFAULT_MAX_RESULTS = 20  # the spec's default for gpt-4* models
MARKER = re.compile(r"【(\d+):(\d+)†([^】]*)】")


def marker(search: int, result: int, filename: str) -> str:
    """The citation marker of result `result` of search `search`."""
    return f"【{search}:{result}†{filename}】"


@dataclass(frozen=True)
class SearchCall:
    """One search the run made and what it found."""

    query: str
    hits: list[retrieval.Hit]


@dataclass
class FileSearch:
    """The run's file_search tool: stores, options, and the searches made so far."""

    db: Database
    vector_store_ids: list[str]
    max_num_results: int = DEFAULT_MAX_RESULTS
    score_threshold: float = 0.0
    ranker: str = "auto"
    calls: list[SearchCall] = field(default_factory=list)
    stream_content: bool = False
    """Whether the run's streamed step events carry result content (`include[]` on create run)."""

    @classmethod
    async def for_run(
        cls, db: Database, run: dict[str, Any], assistant: dict[str, Any] | None
    ) -> FileSearch | None:
        """The tool for `run`, or None when its tools have no `file_search`."""
        tool = next((t for t in run["tools"] if t.get("type") == "file_search"), None)
        if tool is None:
            return None
        options = tool.get("file_search") or {}
        ranking = options.get("ranking_options") or {}
        resources = (assistant or {}).get("tool_resources") or {}
        stores = list((resources.get("file_search") or {}).get("vector_store_ids") or [])
        own = await db.run(thread_store, run["thread_id"])
        if own is not None:
            stores.append(own)
        stores = list(dict.fromkeys(stores))
        gone = set(await retrieval.missing_vector_stores(db, stores)) if stores else set()
        stores = [store for store in stores if store not in gone]
        if own is not None and own in stores:
            await wait_until_ready(db, own)
        return cls(
            db,
            stores,
            max_num_results=options.get("max_num_results") or DEFAULT_MAX_RESULTS,
            score_threshold=float(ranking.get("score_threshold") or 0.0),
            ranker=ranking.get("ranker") or "auto",
        )

    async def search(self, query: str) -> list[retrieval.Hit]:
        """Search the run's stores (none: no hits); the call is remembered for the step."""
        hits: list[retrieval.Hit] = []
        if self.vector_store_ids and query.strip():
            hits = await retrieval.search(
                self.db,
                self.vector_store_ids,
                query,
                max_num_results=self.max_num_results,
                score_threshold=self.score_threshold,
            )
        self.calls.append(SearchCall(query, list(hits)))
        return hits


async def wait_until_ready(db: Database, store_id: str, *, seconds: float = READY_WAIT_SECONDS) -> None:
    """Wait while the store has files in processing, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    pause = 0.02
    while await retrieval.files_in_progress(db, store_id) > 0 and time.monotonic() < deadline:
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.5)


def _score(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def step_details(search: FileSearch) -> dict[str, Any]:
    """The `tool_calls` step details of the run's searches (result content included)."""
    ranking = {"ranker": search.ranker, "score_threshold": search.score_threshold}
    calls = []
    for call in search.calls:
        results = [
            {
                "file_id": hit.file_id,
                "file_name": hit.filename,
                "score": _score(hit.score),
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in call.hits
        ]
        calls.append(
            {
                "id": new_id("call"),
                "type": "file_search",
                "file_search": {"ranking_options": dict(ranking), "results": results},
            }
        )
    return {"type": "tool_calls", "tool_calls": calls}


def without_content(step: dict[str, Any]) -> dict[str, Any]:
    """The step as answered without `include[]`: file_search results lose their `content`."""
    details = step.get("step_details") or {}
    if details.get("type") != "tool_calls":
        return step
    calls = []
    for call in details.get("tool_calls") or []:
        if call.get("type") == "file_search":
            found = call.get("file_search") or {}
            results = [
                {key: value for key, value in result.items() if key != "content"}
                for result in found.get("results") or []
            ]
            call = {**call, "file_search": {**found, "results": results}}
        calls.append(call)
    return {**step, "step_details": {**details, "tool_calls": calls}}


def cite(text: str, calls: list[SearchCall]) -> list[dict[str, Any]]:
    """A `file_citation` for every marker in `text` that names a result of `calls`."""
    annotations = []
    for found in MARKER.finditer(text):
        search, result = int(found.group(1)), int(found.group(2))
        if search >= len(calls) or result >= len(calls[search].hits):
            continue
        annotations.append(
            {
                "type": "file_citation",
                "text": found.group(0),
                "file_citation": {"file_id": calls[search].hits[result].file_id},
                "start_index": found.start(),
                "end_index": found.end(),
            }
        )
    return annotations
