"""Run a batch of turns with one driver at a given concurrency and collect what it cost.

Each turn gets its own fresh thread (created before counting starts), so turns never wait for each
other's thread lock. The server's request counter is reset before the batch and read after it; the
server's millisecond finish time of each run gives the completion lag.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import httpx

from threadloom.benchmarks.drivers import Driver, Turn, TurnDone
from threadloom.threads_client import ThreadsClient

SETUP_CONCURRENCY = 50


@dataclass(frozen=True)
class RunLength:
    """Backend run duration: fixed (`"2000"`) or uniform in a range (`"500..3000"`), in ms."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> RunLength:
        """Read `"MS"` or `"LOW..HIGH"`."""
        low, _, high = text.partition("..")
        length = cls(int(low), int(high or low))
        if length.low < 0 or length.high < length.low:
            raise ValueError(f"bad run length {text!r}: want MS or LOW..HIGH with LOW <= HIGH")
        return length

    def sample(self, rng: random.Random) -> int:
        """One run's duration."""
        return rng.randint(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.low}" if self.low == self.high else f"{self.low}..{self.high}"


BATCH_SLACK_SECONDS = 120.0
"""Time a batch may take beyond its runs' own length (starts, waits, a loaded machine) before the
benchmark calls it stalled."""


NO_PROGRESS_SECONDS = 60.0
"""A batch in which no turn returned for this long (with some still out) is stalled."""
HARD_BOUND_FACTOR = 4
"""However steady its progress, a batch ends at this many times its expected bound."""


def batch_bound_seconds(length: RunLength, concurrency: int, turns: int) -> float:
    """How long a batch is expected to take at most: its waves of runs, each at the longest run
    length plus 5 s, x3, plus slack. A batch still making progress may take up to
    `HARD_BOUND_FACTOR` times this (a loaded machine is slow, not stuck); one that makes none for
    `NO_PROGRESS_SECONDS` ends there, stalled."""
    waves = -(-turns // max(concurrency, 1))
    return BATCH_SLACK_SECONDS + 3 * waves * (length.high / 1000 + 5)


async def wait_with_progress(tasks: set[asyncio.Task[None]], bound_s: float) -> set[asyncio.Task[None]]:
    """Wait for `tasks` until all are done, none finished for `NO_PROGRESS_SECONDS`, or
    `HARD_BOUND_FACTOR x bound_s` passed; the ones still pending."""
    give_up = time.monotonic() + HARD_BOUND_FACTOR * bound_s
    pending = set(tasks)
    while pending:
        left = give_up - time.monotonic()
        if left <= 0:
            break
        done, pending = await asyncio.wait(
            pending, timeout=min(NO_PROGRESS_SECONDS, left), return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            break  # no progress: stalled
    return pending


@dataclass
class Batch:
    """What one batch of turns measured."""

    driver: str
    run_length: str
    concurrency: int
    turns: int
    elapsed_s: float = 0.0
    wall_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    lagged: list[tuple[TurnDone, float]] = field(default_factory=list)
    """Each done turn whose run's finish the server knows, with its lag (ms)."""
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    done: list[TurnDone] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    """Threads of the turns still unanswered when the batch stopped making progress (or its hard
    bound ran out)."""

    @property
    def completed(self) -> int:
        """Turns that returned a reply."""
        return len(self.done)


class Scenarios:
    """Runs batches against one threads server (its base URL and its `/_threadloom` root)."""

    def __init__(self, threads: ThreadsClient, root_url: str, assistant_id: str, *, seed: int = 7):
        self._threads = threads
        self._control = httpx.AsyncClient(base_url=root_url, timeout=30)
        self._assistant_id = assistant_id
        self._rng = random.Random(seed)

    async def aclose(self) -> None:
        """Close the control client."""
        await self._control.aclose()

    async def new_threads(self, count: int) -> list[str]:
        """`count` fresh threads."""
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one() -> str:
            async with gate:
                return (await self._threads.threads.create()).id

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def run(
        self, name: str, driver: Driver, length: RunLength, *, concurrency: int, turns: int
    ) -> Batch:
        """Run `turns` turns, at most `concurrency` at once; failures are recorded, not raised."""
        batch = Batch(name, str(length), concurrency, turns)
        plan = [
            Turn(thread_id, self._assistant_id, f"bench turn {i}", length.sample(self._rng))
            for i, thread_id in enumerate(await self.new_threads(turns))
        ]
        gate = asyncio.Semaphore(concurrency)

        async def one(turn: Turn) -> None:
            async with gate:
                started = time.monotonic()
                try:
                    done = await driver(turn)
                except Exception as err:  # a failed turn is a result of the benchmark
                    batch.errors.append(f"{type(err).__name__}: {err}")
                    return
                batch.wall_ms.append((time.monotonic() - started) * 1000)
                batch.done.append(done)

        await self.reset_stats()
        began = time.monotonic()
        tasks = {asyncio.create_task(one(turn)): turn for turn in plan}
        pending = await wait_with_progress(set(tasks), batch_bound_seconds(length, concurrency, turns))
        batch.elapsed_s = time.monotonic() - began
        if pending:  # a stalled batch reports what finished, and which turns did not
            batch.stalled = [tasks[task].thread_id for task in pending]
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)
        batch.requests = await self.requests()
        batch.lagged = await self.lagged(batch.done)
        batch.lag_ms = [lag for _, lag in batch.lagged]
        return batch

    async def reset_stats(self) -> None:
        """Zero the server's request counter."""
        await self._control.post("/_threadloom/stats/reset")

    async def requests(self) -> int:
        """Requests the server counted since the last reset."""
        stats = (await self._control.get("/_threadloom/stats")).json()
        return int(stats["requests"]["total"])

    async def lags(self, done: list[TurnDone]) -> list[float]:
        """Reply in hand minus the run's finish on the server, per turn (ms)."""
        return [lag for _, lag in await self.lagged(done)]

    async def lagged(self, done: list[TurnDone]) -> list[tuple[TurnDone, float]]:
        """The turns whose run's end is known (the server's, or a no-op's own), each with its lag
        (ms)."""
        lagged = []
        for turn in done:
            if turn.finished_at_ms is not None:  # a no-op turn's stand-in run
                lagged.append((turn, turn.done_at_ms - turn.finished_at_ms))
                continue
            answer = await self._control.get(f"/_threadloom/runs/{turn.run_id}/finished")
            if answer.status_code == 200:
                lagged.append((turn, turn.done_at_ms - float(answer.json()["finished_at_ms"])))
        return lagged
