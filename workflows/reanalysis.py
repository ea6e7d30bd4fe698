"""``ReanalysisWorkflow``: run operators again over stored conversations, durably.

A supervisor added an operator or changed one (a changed definition is a new version) and
wants its results for conversations that closed before. The workflow counts the runs the
request selects, then pages through them in the order they closed (keyset pages, so page N
costs what page 1 does) and hands each page out in batches to ``reanalyze_batch`` with at
most ``concurrency`` batches in flight. Progress is a query (``progress``) the operator API
and the CLI read.

Resumable three ways: a worker that dies mid-batch is replaced and the batch retried (results
are keyed, so nothing is stored twice); the workflow continues as new every few pages with
its progress and cursor, so a re-analysis of millions of runs never outgrows its history;
and a re-analysis cancelled and started again skips the runs that already hold the
operators' current versions.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.names import (
        COUNT_STORED_RUNS_ACTIVITY,
        LIST_STORED_RUNS_ACTIVITY,
        REANALYSIS_ID_PREFIX,
        REANALYSIS_PROGRESS_QUERY,
        REANALYSIS_WORKFLOW,
        REANALYZE_BATCH_ACTIVITY,
    )
    from switchboard.contract.reanalysis import (
        MAX_PAGE,
        BatchOutcome,
        ReanalysisBatch,
        ReanalysisInput,
        ReanalysisProgress,
        ReanalysisStatus,
        RunPageRequest,
        StoredRun,
    )

PAGES_PER_RUN = 50
"""Pages one run handles before it continues as new (its history stays small)."""
_PAGE_BATCHES = 2
"""A page holds this many rounds of ``concurrency`` batches."""
_STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)


@workflow.defn(name=REANALYSIS_WORKFLOW)
class ReanalysisWorkflow:
    """Runs operators over the stored conversations a request selects (module docstring)."""

    def __init__(self) -> None:
        self._progress: ReanalysisProgress | None = None

    @workflow.run
    async def run(self, given: ReanalysisInput) -> ReanalysisProgress:
        """Analyse every selected run; answer the final progress."""
        request = given.request
        now = workflow.now()
        progress = given.progress or ReanalysisProgress(
            id=workflow.info().workflow_id.removeprefix(REANALYSIS_ID_PREFIX),
            operators=request.operators,
            started_at=now,
            updated_at=now,
        )
        self._progress = progress
        selection = request.selection()
        try:
            if progress.total is None:
                progress.total = await workflow.execute_activity(
                    COUNT_STORED_RUNS_ACTIVITY,
                    selection,
                    result_type=int,
                    start_to_close_timeout=timedelta(minutes=2),
                    retry_policy=_STORE_RETRY,
                )
            page_size = min(request.batch * request.concurrency * _PAGE_BATCHES, MAX_PAGE)
            gate = asyncio.Semaphore(request.concurrency)
            for _ in range(PAGES_PER_RUN):
                size = page_size
                if selection.limit is not None:
                    size = min(size, selection.limit - progress.done)
                if size <= 0:
                    break
                runs: list[StoredRun] = await workflow.execute_activity(
                    LIST_STORED_RUNS_ACTIVITY,
                    RunPageRequest(selection=selection, after=progress.cursor, limit=size),
                    result_type=list[StoredRun],
                    start_to_close_timeout=timedelta(minutes=2),
                    retry_policy=_STORE_RETRY,
                )
                batches = [runs[i : i + request.batch] for i in range(0, len(runs), request.batch)]
                await asyncio.gather(*(self._batch(request.force, b, gate) for b in batches))
                if runs:
                    progress.cursor = runs[-1].cursor
                if len(runs) < size:
                    break
            else:
                workflow.continue_as_new(ReanalysisInput(request=request, progress=progress))
        except asyncio.CancelledError:
            progress.status = ReanalysisStatus.CANCELLED
            raise
        except Exception as exc:
            if is_cancelled_exception(exc):  # an activity cancelled with the workflow
                progress.status = ReanalysisStatus.CANCELLED
                raise asyncio.CancelledError from exc
            progress.status = ReanalysisStatus.FAILED
            raise
        progress.status = ReanalysisStatus.COMPLETED
        progress.updated_at = workflow.now()
        return progress

    async def _batch(self, force: bool, runs: list[StoredRun], gate: asyncio.Semaphore) -> None:
        progress = self._progress
        assert progress is not None
        async with gate:
            outcome: BatchOutcome = await workflow.execute_activity(
                REANALYZE_BATCH_ACTIVITY,
                ReanalysisBatch(
                    reanalysis_id=progress.id, runs=runs, operators=progress.operators, force=force
                ),
                result_type=BatchOutcome,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=_STORE_RETRY,
                summary=f"{len(runs)} conversations",
            )
        progress.add(outcome, len(runs))
        progress.updated_at = workflow.now()

    @workflow.query(name=REANALYSIS_PROGRESS_QUERY)
    def progress(self) -> ReanalysisProgress | None:
        """How far the re-analysis is (None before its first step)."""
        return self._progress
