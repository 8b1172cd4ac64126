"""Run lifecycle: runs execute as asyncio tasks in the server process.

```
queued ─► in_progress ─► completed | incomplete | failed
   ▲            └──────► requires_action ──(submit outputs)──┘
   └─────────────────────────────────────────────────────────┘
any active ─(cancel)─► cancelling ─► cancelled        any active ─(expires_at)─► expired
```

Each transition is one transaction (`storage.run_progress`) that checks the run's current status, then
the matching stream events are published (`events.RunEvents`). Whoever moves a run out of the status
another actor expected wins; the loser's transaction returns None and it stops quietly.

Where a run executes depends on the backend:
- SQLite: this process executes every run; a restart fails the runs it was executing
  (`server_error`), and a graceful shutdown fails those still executing after the grace.
- PostgreSQL: any replica executes any run under a lease (`replicas.py`, which explains the
  decisions): a run is claimed before it executes, each of its transitions checks the lease, a
  run whose replica died is taken over and executed again from the start, and a graceful shutdown
  hands its runs over to the other replicas instead of failing them. Cancellation, expiry and thread
  deletion work from any replica; the executing replica hears of them through the relayed events
  (`remote_event`) and stops its task.

With concurrency caps (`run_caps.py`), the claim refuses a queued run whose model (or assistant)
has no room: its task ends and the run stays `queued`, unclaimed (cancel, expiry and deletion treat
it as any queued run). Whenever this process moves a run out of `queued` / `in_progress` it looks
for the runs a cap held back that may start now and starts them (`_wake_held_back`); on PostgreSQL
the other replicas' sweeps also find them, within a second, should this one die first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from threadloom.threads_server.events import TERMINAL_RUN_STATUSES, Event, RunEvents, error_data
from threadloom.threads_server.expiry import Expiries, is_due
from threadloom.threads_server.file_search import FileSearch, step_details, without_content
from threadloom.threads_server.finish_times import FinishTimes
from threadloom.threads_server.replicas import MAX_TAKEOVERS, SWEEP_LIMIT, Replica
from threadloom.threads_server.responders import (
    Reply,
    Responder,
    ResponderError,
    ResponderInput,
    ToolCalls,
)
from threadloom.threads_server.responders.echo import EchoResponder
from threadloom.threads_server.run_events import message_delta, text_chunks, tool_call_events
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import Database, leases, search_steps
from threadloom.threads_server.storage import run_progress as progress
from threadloom.threads_server.storage import runs as storage_runs

ECHO_CHUNK_DELAY_KEY = "echo_chunk_delay_ms"
"""Run metadata key for the echo responder's pause between deltas (only with faults enabled)."""
log = logging.getLogger("threads_server.runner")
SERVER_ERROR = {"code": "server_error", "message": "The server had an error while running the run."}
SHUTDOWN_ERROR = {"code": "server_error", "message": "Run interrupted by a server shutdown."}
POISON_ERROR = {
    "code": "server_error",
    "message": f"The run's execution was lost with its server {MAX_TAKEOVERS} times; it was stopped.",
}
EXECUTOR_LOST = error_data(
    "The server executing this run went away; another one took the run over and runs it again "
    "from the start. Retrieve the run to follow it.",
    "run_executor_lost",
)
HANDED_OVER = error_data(
    "The server executing this run is shutting down and handed the run over to another one, "
    "which runs it again from the start. Retrieve the run to follow it.",
    "run_handed_over",
)


class Runner:
    """Starts, advances, cancels and expires runs."""

    def __init__(
        self,
        db: Database,
        events: RunEvents,
        settings: ServerSettings,
        responders: dict[str, Responder],
        replica: Replica | None = None,
    ) -> None:
        self._db = db
        self._replica = replica
        self._events = events
        self._settings = settings
        self._responders = responders
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # the runs whose claim returned with this replica's lease (renewed; a claim in flight is not)
        self._leased: set[str] = set()
        self._expiries = Expiries(self._on_expiry)
        self._background: set[asyncio.Task[Any]] = set()
        self._caps = settings.run_caps
        self._waking: asyncio.Task[None] | None = None
        self._wake_again = False
        self.finish_times = FinishTimes()
        """Millisecond-precision moments of terminal transitions (`/_threadloom/runs/…`)."""

    # -- lifecycle of the runner itself -------------------------------------------------------

    async def recover(self) -> list[str]:
        """End the runs a previous process was executing (ids returned); re-arm waiting runs' expiry.

        As a replica (PostgreSQL), end nothing: start the lease loops, which take over what a dead
        replica was executing once its leases lapse, and expire what is due.
        """
        if self._replica is not None:
            await self._replica.start(self)
            return []
        interrupted, waiting = await self._db.run(progress.recover)
        for run_id, expires_at in waiting:
            self._expiries.arm(run_id, expires_at)
        return interrupted

    @property
    def pending_expiries(self) -> int:
        """How many expiry timers are armed (one per active run)."""
        return len(self._expiries)

    async def drain(self, grace_seconds: float) -> None:
        """Graceful shutdown: let executing runs finish for up to `grace_seconds`, then end the rest.

        A run still executing after the grace fails `server_error` (the engine starts a new run), a
        `cancelling` one becomes `cancelled`; their streams get that terminal event. Every other
        stream and long-poll is then ended with an `error` event, so no connection holds the
        shutdown up. `requires_action` runs stay as they are: the next start-up re-arms their expiry.
        """
        if self._replica is not None:
            self._replica.draining = True
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace_seconds)
        while self._tasks:  # (a claim in flight when the drain began adds its task late)
            run_id, task = next(iter(self._tasks.items()))
            task.cancel()
            await asyncio.wait([task])
            self._tasks.pop(run_id, None)
            if self._replica is not None:
                await self._hand_over(run_id)
                continue
            done = await self._db.run(progress.interrupt, run_id, SHUTDOWN_ERROR)
            self._announce_end(run_id, done)
        if self._replica is not None:
            # A claim whose task was cancelled above may have committed after that task's
            # hand-over (the database call outlives its cancelled caller): release it too, so no
            # run waits for this replica's lease to lapse.
            for run_id in await self._replica.release_held():
                self._events.publish(run_id, "error", HANDED_OVER)
            self._replica.announce_free()
            with contextlib.suppress(TimeoutError):
                await self._replica.relay.flush(1.0)
        self._events.close_all(
            error_data("The server is shutting down; retrieve the run to see its status.", "shutdown")
        )

    async def shutdown(self) -> None:
        """Stop timers and tasks (runs stay as they are in the database)."""
        self._expiries.stop_all()
        if self._replica is not None:
            await self._replica.stop()
        tasks = list(self._tasks.values()) + list(self._background)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- what the routes call -----------------------------------------------------------------

    def launch(self, run: dict[str, Any]) -> None:
        """Announce a new run (`created`, `queued`), arm its expiry and start it."""
        self._publish_run(run, "thread.run.created")
        self._publish_run(run)
        self._expiries.arm(run["id"], run["expires_at"])
        self._start(run)

    async def cancel(self, thread_id: str, run_id: str) -> dict[str, Any]:
        """Move the run to `cancelling`; it becomes `cancelled` once its task has stopped."""
        run = await self._db.run(storage_runs.request_cancel, thread_id, run_id)
        self._publish_run(run)
        self._spawn(self._complete_cancel(run_id, self._tasks.get(run_id)))
        return run

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Record outputs (the run goes back to `queued`) and continue the run.

        A run past its `expires_at` is expired first (its timer may not have fired yet), so the
        outputs are refused.
        """
        done = await self._db.run(progress.expire_if_due, thread_id, run_id, time.time())
        self._announce_end(run_id, done)
        run, step = await self._db.run(storage_runs.submit_tool_outputs, thread_id, run_id, outputs)
        if step is not None:
            self._events.publish(run_id, "thread.run.step.completed", step)
        self._publish_run(run)
        self._start(run)
        return run

    async def delete_thread(self, thread_id: str) -> dict[str, Any]:
        """Delete a thread; its active runs stop, and their streams and long-polls end.

        A stream gets the run as `cancelled` (then `[DONE]`); a long-poll answers 404, as every
        later GET of the run does.
        """
        deleted, active = await self._db.run(progress.delete_thread, thread_id)
        stamp = int(time.time())
        for run in active:
            self._expiries.stop(run["id"])
            task = self._tasks.get(run["id"])
            if task is not None:
                task.cancel()
            run.update(status="cancelled", cancelled_at=stamp, expires_at=None, required_action=None)
            self._events.publish(run["id"], "thread.run.cancelled", run, gone=True)
        for run in active:
            self._wake_held_back(run)
        return deleted

    # -- internals ----------------------------------------------------------------------------

    def _start(self, run: dict[str, Any]) -> None:
        if self._replica is not None and self._replica.draining:
            self._replica.announce_free()  # shutting down: another replica claims it
            return
        self._start_id(run["id"])

    def _start_id(self, run_id: str) -> None:
        if self._replica is not None and self._replica.draining:
            return  # shutting down: no new executions (another replica claims the run)
        running = self._tasks.get(run_id)
        if running is not None and not running.done():
            return
        task = asyncio.create_task(self._drive(run_id), name=f"run {run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(functools.partial(self._forget_task, run_id))

    def _forget_task(self, run_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(run_id) is task:
            del self._tasks[run_id]
            self._leased.discard(run_id)

    # -- what the lease loops call (replicas.Executor) ------------------------------------------

    @property
    def replica_id(self) -> str | None:
        """This process's replica id on PostgreSQL (None on SQLite: one process executes)."""
        return self._replica.id if self._replica is not None else None

    def executing(self) -> list[str]:
        """Ids of the runs this process is executing, their claims in flight included."""
        return list(self._tasks)

    def leased(self) -> list[str]:
        """Ids of the runs this process executes under a lease its claim took (the ones to renew)."""
        return [run_id for run_id in self._tasks if run_id in self._leased]

    def adopt(self, run_id: str) -> None:
        """Claim and execute a run whose lease lapsed or was released (a takeover)."""
        self._start_id(run_id)

    def lost(self, run_id: str) -> None:
        """Another replica holds the run now: stop this execution (its writes would be refused)."""
        task = self._tasks.get(run_id)
        if task is not None:
            task.cancel()
        self._expiries.stop(run_id)

    def expire(self, run_id: str) -> None:
        """Expire a run past its `expires_at` (one whose own replica's timer is gone)."""
        self._on_expiry(run_id)

    def remote_event(self, run_id: str, event: Event) -> None:
        """Another replica ended, cancelled or deleted a run: stop executing it here."""
        if not event.is_run:
            return
        status = event.event.removeprefix("thread.run.")
        if status in TERMINAL_RUN_STATUSES:
            self.finish_times.record(run_id, status)
        if status in TERMINAL_RUN_STATUSES or status == "cancelling" or event.gone:
            self.lost(run_id)

    async def _hand_over(self, run_id: str) -> None:
        assert self._replica is not None
        self._expiries.stop(run_id)
        if await self._replica.release(run_id):
            self._events.publish(run_id, "error", HANDED_OVER)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_expiry(self, run_id: str) -> None:
        self._spawn(self._expire(run_id))

    async def _expire(self, run_id: str) -> None:
        await self._finish(run_id, "expired")
        task = self._tasks.get(run_id)
        if task is not None:
            task.cancel()

    async def _complete_cancel(self, run_id: str, task: asyncio.Task[None] | None) -> None:
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        await self._finish(run_id, "cancelled", from_statuses=("cancelling",))

    def _publish_run(self, run: dict[str, Any], event: str | None = None) -> None:
        if run["status"] in TERMINAL_RUN_STATUSES:
            self.finish_times.record(run["id"], run["status"])
        self._events.publish(run["id"], event or f"thread.run.{run['status']}", run)
        if run["status"] not in ("queued", "in_progress"):
            self._wake_held_back(run)

    # -- concurrency caps -----------------------------------------------------------------------

    def _wake_held_back(self, run: dict[str, Any]) -> None:
        """`run` left `queued` / `in_progress`: if a cap applies to it, start the runs a cap held
        back that may start now (a run no cap names frees no slot and moves no queue).

        One look at a time; a request while one runs makes it look once more when done.
        """
        if self._caps is None or not self._caps.limits_of(run):
            return
        if self._waking is not None and not self._waking.done():
            self._wake_again = True
            return
        self._waking = asyncio.create_task(self._start_held_back(), name="runner: held-back runs")
        self._background.add(self._waking)
        self._waking.add_done_callback(self._background.discard)

    async def _start_held_back(self) -> None:
        assert self._caps is not None
        again = True
        while again:
            self._wake_again = False
            if self._replica is not None and self._replica.draining:
                self._replica.announce_free()  # shutting down: another replica starts them
                return
            try:
                ready = await self._db.run(leases.startable, time.time(), SWEEP_LIMIT, self._caps)
            except Exception as exc:  # the next finish (or a replica's sweep) looks again
                log.warning("cannot look for runs held back by a cap: %s", exc)
                return
            for run_id in ready:
                self._start_id(run_id)
            again = self._wake_again

    async def _finish(self, run_id: str, status: str, *, owned: bool = False, **options: Any) -> None:
        """End the run; `owned`: as its executor (refused if another replica took it over)."""
        fn = functools.partial(progress.finish, **options)
        done = await (self._owned(fn, run_id, status) if owned else self._db.run(fn, run_id, status))
        self._announce_end(run_id, done)

    async def _owned(self, fn: Any, run_id: str, *args: Any) -> Any:
        """A transition of the run's executor: checks the lease first as a replica."""
        if self._replica is not None:
            return await self._replica.owned(fn, run_id, *args)
        return await self._db.run(fn, run_id, *args)

    async def _claim(self, run_id: str) -> Any:
        """Claim and begin the run: `(run, fault)` once begun, `True` to respond (it was already
        `in_progress`: a takeover or a hand-over), None to stop."""
        faults = self._settings.faults_enabled
        if self._replica is None:
            return await self._db.run(leases.begin_capped, run_id, faults, time.time(), self._caps)
        claimed = await self._replica.claim(run_id, faults)
        if claimed is None:
            return None
        self._leased.add(run_id)
        (run, state, previous), begun = claimed
        if run["status"] == "cancelling":
            await self._finish(run_id, "cancelled", from_statuses=("cancelling",))
            return None
        if is_due(run["expires_at"]):
            await self._finish(run_id, "expired")
            return None
        if previous is not None and previous != self._replica.id and run["status"] == "in_progress":
            log.warning("run %s: took it over from replica %s", run_id, previous)
            self._events.publish(run_id, "error", EXECUTOR_LOST)
            if int(state.get("takeovers", 0)) >= MAX_TAKEOVERS:
                await self._finish(run_id, "failed", owned=True, last_error=dict(POISON_ERROR))
                return None
        self._expiries.arm(run_id, run["expires_at"])
        return begun if begun is not None else run["status"] == "in_progress" or None

    def _announce_end(
        self,
        run_id: str,
        done: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None,
    ) -> None:
        """Publish what a `finish` transaction closed (nothing if it found the run elsewhere)."""
        if done is None:
            return
        run, steps, messages = done
        for message in messages:
            self._events.publish(run_id, "thread.message.incomplete", message)
        for step in steps:
            self._events.publish(run_id, f"thread.run.step.{step['status']}", step)
        self._expiries.stop(run_id)
        self._publish_run(run)

    def _responder(self, model: str) -> Responder:
        name = self._settings.responder
        if name == "auto":
            configured = self._settings.llm.base_url and "chat_completions" in self._responders
            name = "chat_completions" if configured and model != "echo" else "echo"
        return self._responders[name]

    async def _drive(self, run_id: str) -> None:
        try:
            begun = await self._claim(run_id)
            if begun is None:
                return
            fault, override = None, None
            if begun is not True:
                run, fault = begun
                self._publish_run(run)
            if fault is not None:
                if fault.kind == "delay":
                    await asyncio.sleep(int(fault.value or 0) / 1000)
                elif fault.kind == "stall":
                    await asyncio.Event().wait()
                elif fault.kind == "fail":
                    error = {"code": fault.value, "message": f"Injected fault: {fault.value}."}
                    if fault.retry_after is not None:
                        error["retry_after_seconds"] = fault.retry_after
                    await self._finish(run_id, "failed", owned=True, last_error=error)
                    return
                elif fault.kind == "expire":
                    await self._finish(run_id, "expired", owned=True)
                    return
                elif fault.kind == "incomplete":
                    override = fault.value
            responded = await self._respond(run_id)
            if responded is None:
                return
            result, file_search = responded
            if file_search is not None and file_search.calls:
                if not await self._record_searches(run_id, file_search):
                    return
            if isinstance(result, ToolCalls) and override is None:
                await self._ask_for_tools(run_id, result)
            else:
                if isinstance(result, ToolCalls):
                    result = Reply("", result.usage)
                await self._reply(run_id, result, override or result.incomplete_reason)
        except asyncio.CancelledError:
            raise
        except ResponderError as exc:
            error = exc.last_error()
            await self._finish(
                run_id, "failed", owned=True, from_statuses=("in_progress",), last_error=error
            )
        except Exception:
            log.exception("run %s failed", run_id)
            await self._finish(run_id, "failed", owned=True, last_error=dict(SERVER_ERROR))

    async def _respond(self, run_id: str) -> tuple[Reply | ToolCalls, FileSearch | None] | None:
        run, state, assistant, messages = await self._db.run(progress.context, run_id)
        if run["status"] != "in_progress":
            return None
        file_search = await FileSearch.for_run(self._db, run, assistant)
        if file_search is not None:
            file_search.stream_content = bool(state.get("include_search_content"))
        request = ResponderInput.of_run(run, state, messages, file_search)
        started = time.monotonic()
        responder = self._responder(run["model"])
        result = await responder.respond(request)
        log.debug("run %s responded in %.3fs", run_id, time.monotonic() - started)
        if isinstance(result, Reply) and isinstance(responder, EchoResponder):
            result = replace(result, chunk_delay_ms=self._echo_chunk_delay_ms(run))
        return result, file_search

    async def _record_searches(self, run_id: str, file_search: FileSearch) -> bool:
        """Store the run's completed `file_search` step; False if the run moved on meanwhile."""
        step = await self._owned(search_steps.record, run_id, step_details(file_search))
        if step is None:
            return False
        shown = step if file_search.stream_content else without_content(step)
        self._events.publish(run_id, "thread.run.step.created", shown)
        self._events.publish(run_id, "thread.run.step.completed", shown)
        return True

    def _echo_chunk_delay_ms(self, run: dict[str, Any]) -> float:
        """The echo responder's pause between deltas: the setting, or (faults enabled) the run's
        metadata `echo_chunk_delay_ms`, at most 1 s."""
        delay = self._settings.echo_chunk_delay_ms
        asked = (run.get("metadata") or {}).get(ECHO_CHUNK_DELAY_KEY)
        if asked is not None and self._settings.faults_enabled:
            try:
                delay = min(max(float(asked), 0.0), 1000.0)
            except ValueError:
                pass
        return delay

    async def _ask_for_tools(self, run_id: str, result: ToolCalls) -> None:
        done = await self._owned(progress.require_action, run_id, result.calls, result.usage)
        if done is None:
            return
        step, run = done
        for name, data in tool_call_events(step):
            self._events.publish(run_id, name, data)
        self._publish_run(run)

    async def _reply(self, run_id: str, reply: Reply, reason: str | None) -> None:
        if not reply.text and reason:
            await self._finish(
                run_id,
                "incomplete",
                owned=True,
                from_statuses=("in_progress",),
                incomplete_details={"reason": reason},
            )
            return
        started = await self._owned(progress.start_message, run_id)
        if started is None:
            return
        step, message = started
        self._events.publish(run_id, "thread.run.step.created", step)
        self._events.publish(run_id, "thread.run.step.in_progress", step)
        self._events.publish(run_id, "thread.message.created", message)
        self._events.publish(run_id, "thread.message.in_progress", message)
        for index, chunk in enumerate(text_chunks(reply.text, self._settings.stream_delta_words)):
            if index and reply.chunk_delay_ms:
                await asyncio.sleep(reply.chunk_delay_ms / 1000)
            await self._events.room(run_id)
            self._events.publish(run_id, "thread.message.delta", message_delta(message["id"], chunk))
        done = await self._owned(
            progress.complete_reply,
            run_id,
            step,
            message,
            reply.text,
            reply.usage,
            reason,
            reply.annotations,
        )
        if done is None:
            return
        message, step, run = done
        status = message["status"]
        self._events.publish(run_id, f"thread.message.{status}", message)
        self._events.publish(run_id, "thread.run.step.completed", step)
        self._expiries.stop(run_id)
        self._publish_run(run)
