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
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Coroutine
from typing import Any

from threadloom.threads_server.events import TERMINAL_RUN_STATUSES, RunEvents, error_data
from threadloom.threads_server.expiry import Expiries
from threadloom.threads_server.finish_times import FinishTimes
from threadloom.threads_server.responders import (
    Reply,
    Responder,
    ResponderError,
    ResponderInput,
    ToolCalls,
)
from threadloom.threads_server.run_events import message_delta, text_chunks, tool_call_events
from threadloom.threads_server.settings import ServerSettings
from threadloom.threads_server.storage import Database
from threadloom.threads_server.storage import run_progress as progress
from threadloom.threads_server.storage import runs as storage_runs

log = logging.getLogger("threads_server.runner")
SERVER_ERROR = {"code": "server_error", "message": "The server had an error while running the run."}
SHUTDOWN_ERROR = {"code": "server_error", "message": "Run interrupted by a server shutdown."}


class Runner:
    """Starts, advances, cancels and expires runs."""

    def __init__(
        self,
        db: Database,
        events: RunEvents,
        settings: ServerSettings,
        responders: dict[str, Responder],
    ) -> None:
        self._db = db
        self._events = events
        self._settings = settings
        self._responders = responders
        self._tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._expiries = Expiries(self._on_expiry)
        self._background: set[asyncio.Task[Any]] = set()
        self.finish_times = FinishTimes()
        """Millisecond-precision moments of terminal transitions (`/_threadloom/runs/…`)."""

    # -- lifecycle of the runner itself -------------------------------------------------------

    async def recover(self) -> list[str]:
        """End the runs a previous process was executing (ids returned); re-arm waiting runs' expiry."""
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
        tasks = [task for _, task in self._tasks.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_seconds)
        for run_id, (_, task) in list(self._tasks.items()):
            task.cancel()
            await asyncio.wait([task])
            done = await self._db.run(progress.interrupt, run_id, SHUTDOWN_ERROR)
            self._announce_end(run_id, done)
        self._events.close_all(
            error_data("The server is shutting down; retrieve the run to see its status.", "shutdown")
        )

    async def shutdown(self) -> None:
        """Stop timers and tasks (runs stay as they are in the database)."""
        self._expiries.stop_all()
        tasks = [task for _, task in self._tasks.values()] + list(self._background)
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
        entry = self._tasks.get(run_id)
        self._spawn(self._complete_cancel(run_id, entry[1] if entry else None))
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
            entry = self._tasks.get(run["id"])
            if entry is not None:
                entry[1].cancel()
            run.update(status="cancelled", cancelled_at=stamp, expires_at=None, required_action=None)
            self._events.publish(run["id"], "thread.run.cancelled", run, gone=True)
        return deleted

    # -- internals ----------------------------------------------------------------------------

    def _start(self, run: dict[str, Any]) -> None:
        task = asyncio.create_task(self._drive(run["id"]), name=f"run {run['id']}")
        self._tasks[run["id"]] = (run["thread_id"], task)
        task.add_done_callback(functools.partial(self._forget_task, run["id"]))

    def _forget_task(self, run_id: str, task: asyncio.Task[None]) -> None:
        entry = self._tasks.get(run_id)
        if entry is not None and entry[1] is task:
            del self._tasks[run_id]

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_expiry(self, run_id: str) -> None:
        self._spawn(self._expire(run_id))

    async def _expire(self, run_id: str) -> None:
        await self._finish(run_id, "expired")
        entry = self._tasks.get(run_id)
        if entry is not None:
            entry[1].cancel()

    async def _complete_cancel(self, run_id: str, task: asyncio.Task[None] | None) -> None:
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        await self._finish(run_id, "cancelled", from_statuses=("cancelling",))

    def _publish_run(self, run: dict[str, Any], event: str | None = None) -> None:
        if run["status"] in TERMINAL_RUN_STATUSES:
            self.finish_times.record(run["id"], run["status"])
        self._events.publish(run["id"], event or f"thread.run.{run['status']}", run)

    async def _finish(self, run_id: str, status: str, **options: Any) -> None:
        done = await self._db.run(functools.partial(progress.finish, **options), run_id, status)
        self._announce_end(run_id, done)

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
            begun = await self._db.run(progress.begin_with_fault, run_id, self._settings.faults_enabled)
            if begun is None:
                return
            run, fault = begun
            self._publish_run(run)
            override = None
            if fault is not None:
                if fault.kind == "delay":
                    await asyncio.sleep(int(fault.value or 0) / 1000)
                elif fault.kind == "stall":
                    await asyncio.Event().wait()
                elif fault.kind == "fail":
                    error = {"code": fault.value, "message": f"Injected fault: {fault.value}."}
                    if fault.retry_after is not None:
                        error["retry_after_seconds"] = fault.retry_after
                    await self._finish(run_id, "failed", last_error=error)
                    return
                elif fault.kind == "expire":
                    await self._finish(run_id, "expired")
                    return
                elif fault.kind == "incomplete":
                    override = fault.value
            result = await self._respond(run_id)
            if result is None:
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
            await self._finish(run_id, "failed", from_statuses=("in_progress",), last_error=error)
        except Exception:
            log.exception("run %s failed", run_id)
            await self._finish(run_id, "failed", last_error=dict(SERVER_ERROR))

    async def _respond(self, run_id: str) -> Reply | ToolCalls | None:
        run, state, _assistant, messages = await self._db.run(progress.context, run_id)
        if run["status"] != "in_progress":
            return None
        request = ResponderInput.of_run(run, state, messages)
        started = time.monotonic()
        result = await self._responder(run["model"]).respond(request)
        log.debug("run %s responded in %.3fs", run_id, time.monotonic() - started)
        return result

    async def _ask_for_tools(self, run_id: str, result: ToolCalls) -> None:
        done = await self._db.run(progress.require_action, run_id, result.calls, result.usage)
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
                from_statuses=("in_progress",),
                incomplete_details={"reason": reason},
            )
            return
        started = await self._db.run(progress.start_message, run_id)
        if started is None:
            return
        step, message = started
        self._events.publish(run_id, "thread.run.step.created", step)
        self._events.publish(run_id, "thread.run.step.in_progress", step)
        self._events.publish(run_id, "thread.message.created", message)
        self._events.publish(run_id, "thread.message.in_progress", message)
        for chunk in text_chunks(reply.text, self._settings.stream_delta_words):
            await self._events.room(run_id)
            self._events.publish(run_id, "thread.message.delta", message_delta(message["id"], chunk))
        done = await self._db.run(
            progress.complete_reply, run_id, step, message, reply.text, reply.usage, reason
        )
        if done is None:
            return
        message, step, run = done
        status = message["status"]
        self._events.publish(run_id, f"thread.message.{status}", message)
        self._events.publish(run_id, "thread.run.step.completed", step)
        self._expiries.stop(run_id)
        self._publish_run(run)
