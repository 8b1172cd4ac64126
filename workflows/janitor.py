"""`JanitorWorkflow`: one retention pass, deleting threads idle for longer than the retention.

A Temporal Schedule (`threadloom janitor`) starts one pass per interval. The pass fixes its cutoff
(`now - retention`) once, then walks Temporal's visibility a page at a time (`find_threads`: the
thread ids that closed workflows of this task queue name) and checks each thread of the page at
once in its own activity (`retire_thread`, `activities.janitor`), which deletes it only if nothing
used it since the cutoff and nothing is open on it. Progress shows in the UI's current details and
the `progress` query; the result holds the counts. Every `max_batches_per_run` pages the pass
continues as new with its cutoff, page token and counts, so a large namespace never makes a long
history. A dry run only counts what it would delete.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from threadloom.activities.janitor import JanitorActivities
    from threadloom.workflows.contracts import NON_RETRYABLE_ERROR_TYPES, ProgressQuery
    from threadloom.workflows.janitor_contracts import (
        JANITOR_WORKFLOW,
        PROGRESS_QUERY,
        FindThreadsInput,
        JanitorCounts,
        JanitorInput,
        JanitorProgress,
        JanitorResult,
        RetireThreadInput,
        RetireThreadOutput,
    )

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE_ERROR_TYPES,
)
"""Bounded: a thread that keeps failing is counted `failed` and left for the next pass."""
FIND_TIMEOUT = timedelta(seconds=60)
RETIRE_TIMEOUT = timedelta(minutes=2)
"""Checks, closing a waiting conversation (it ends at once: nothing is queued on it) and one DELETE."""
RETIRE_HEARTBEAT = timedelta(seconds=30)


@workflow.defn(name=JANITOR_WORKFLOW)
class JanitorWorkflow:
    """Runs one pass; its result says how many threads were deleted, kept, or already gone."""

    def __init__(self) -> None:
        self._progress = JanitorProgress()

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self, query: ProgressQuery | None = None) -> JanitorProgress:
        """The pass's cutoff and counts so far."""
        return self._progress

    @workflow.run
    async def run(self, request: JanitorInput) -> JanitorResult:
        """Walk the candidate threads page by page, retiring the idle ones."""
        cutoff = request.cutoff or _cutoff(request)
        counts, token = request.counts, request.page_token
        self._show(request, cutoff, counts, "finding threads")
        seen: set[str] = set()  # one thread is named by many workflows, often on one page
        for _ in range(request.max_batches_per_run):
            page = await workflow.execute_activity_method(
                JanitorActivities.find_threads,
                FindThreadsInput(
                    task_queue=request.task_queue,
                    cutoff=cutoff,
                    page_size=request.batch_size,
                    page_token=token,
                ),
                summary=f"find threads (batch {counts.batches + 1})",
                start_to_close_timeout=FIND_TIMEOUT,
                retry_policy=RETRY,
            )
            fresh = [thread_id for thread_id in page.thread_ids if thread_id not in seen]
            seen.update(fresh)
            outcomes = await asyncio.gather(*(self._retire(t, cutoff, request) for t in fresh))
            for outcome in outcomes:
                counts = counts.add(outcome.verdict, closed_conversation=outcome.closed_conversation)
            counts = counts.model_copy(update={"batches": counts.batches + 1})
            token = page.next_page_token
            if token is None:
                self._show(request, cutoff, counts, "done", done=True)
                return JanitorResult(cutoff=cutoff, dry_run=request.dry_run, counts=counts)
            self._show(request, cutoff, counts, f"batch {counts.batches} done")
        workflow.logger.info("janitor continues as new after %d batches", counts.batches)
        workflow.continue_as_new(
            request.model_copy(update={"cutoff": cutoff, "page_token": token, "counts": counts})
        )

    async def _retire(
        self, thread_id: str, cutoff: datetime, request: JanitorInput
    ) -> RetireThreadOutput:
        """Retire one thread; one that keeps failing is counted and left for the next pass."""
        try:
            return await workflow.execute_activity_method(
                JanitorActivities.retire_thread,
                RetireThreadInput(thread_id=thread_id, cutoff=cutoff, dry_run=request.dry_run),
                summary=f"{'check' if request.dry_run else 'retire'} thread {thread_id}",
                start_to_close_timeout=RETIRE_TIMEOUT,
                heartbeat_timeout=RETIRE_HEARTBEAT,
                retry_policy=RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("thread %s not retired: %s", thread_id, err.cause or err)
            return RetireThreadOutput(verdict="failed", reason=str(err.cause or err))

    def _show(
        self,
        request: JanitorInput,
        cutoff: datetime,
        counts: JanitorCounts,
        doing: str,
        *,
        done: bool = False,
    ) -> None:
        """The UI's current details and the `progress` answer."""
        self._progress = JanitorProgress(
            cutoff=cutoff, dry_run=request.dry_run, counts=counts, done=done
        )
        mode = "dry run · " if request.dry_run else ""
        since = f"idle since before {cutoff:%Y-%m-%d %H:%M:%S} UTC"
        workflow.set_current_details(f"{mode}{doing} · {since} · {counts.line(dry_run=request.dry_run)}")


def _cutoff(request: JanitorInput) -> datetime:
    """`now - retention`: the pass's own start time unless the input fixes `now`."""
    now = request.now or workflow.now()
    return now - timedelta(seconds=request.retention_seconds)
