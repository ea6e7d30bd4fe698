"""Re-analysis activities: count and page through stored runs, analyse a batch again.

They run on the intelligence task queue beside ``analyze_conversation``, with the same
``Analyzer``, so the operators a re-analysis runs are exactly those this worker runs live, at
their current versions. ``reanalyze_batch`` is idempotent: results are keyed by run,
operator, version and turns, and a run that already holds a result of an operator's current
version is skipped unless the request forces it, so a retried batch, or a re-analysis started
again after a cancel, does only what is left. Rules do not act on re-analysed results (the
conversations are over); the labels insights count (sentiment, topic, outcome) are updated.
"""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from activities.heartbeat import heartbeating
from switchboard.contract.conversation import Role
from switchboard.contract.intelligence import (
    AnalysisLine,
    AnalysisRequest,
    OperatorResult,
    OperatorTrigger,
)
from switchboard.contract.names import (
    COUNT_STORED_RUNS_ACTIVITY,
    LIST_STORED_RUNS_ACTIVITY,
    REANALYZE_BATCH_ACTIVITY,
)
from switchboard.contract.reanalysis import (
    BatchOutcome,
    ReanalysisBatch,
    RunPageRequest,
    RunSelection,
    StoredRun,
)
from switchboard.intelligence import Analyzer
from switchboard.memory import MemoryStore
from switchboard.memory.models import FactLabels, TranscriptLine

log = structlog.get_logger(__name__)

CONVERSATIONS_AT_ONCE = 16
"""Conversations of one batch analysed concurrently (each runs its operators concurrently)."""


class ReanalysisActivities:
    """The activities of ``ReanalysisWorkflow`` (see the module docstring).

    Args:
        analyzer: The worker's operators, as the live analysis runs them.
        store: Where transcripts are read and results stored.
    """

    def __init__(self, analyzer: Analyzer, store: MemoryStore) -> None:
        self._analyzer = analyzer
        self._store = store

    @activity.defn(name=COUNT_STORED_RUNS_ACTIVITY)
    async def count_stored_runs(self, selection: RunSelection) -> int:
        """How many stored runs the selection picks."""
        return await self._store.count_stored_runs(selection)

    @activity.defn(name=LIST_STORED_RUNS_ACTIVITY)
    async def list_stored_runs(self, request: RunPageRequest) -> list[StoredRun]:
        """The next page of the selection's stored runs."""
        return await self._store.stored_runs(request.selection, request.after, request.limit)

    @activity.defn(name=REANALYZE_BATCH_ACTIVITY)
    async def reanalyze_batch(self, batch: ReanalysisBatch) -> BatchOutcome:
        """Run the operators over each run of the batch that lacks their current version."""
        versions = {op.name: op.version for op in self._analyzer.operators}
        unknown = [name for name in batch.operators if name not in versions]
        wanted = {name: versions[name] for name in batch.operators if name in versions}
        done = set() if batch.force else await self._store.analysed(batch.runs, wanted)
        todo = [
            (run, names)
            for run in batch.runs
            if (names := [n for n in wanted if (run.run_id, n) not in done])
        ]
        outcome = BatchOutcome(skipped=len(batch.runs) - len(todo), unknown_operators=unknown)
        transcripts = await self._store.stored_transcripts([run.run_id for run, _ in todo])
        gate = asyncio.Semaphore(CONVERSATIONS_AT_ONCE)

        async def one(run: StoredRun, names: list[str]) -> list[OperatorResult]:
            async with gate:
                return await self._analyzer.run(_request(run, transcripts[run.run_id], names))

        present = [(run, names) for run, names in todo if run.run_id in transcripts]
        outcome.missing = len(todo) - len(present)
        async with heartbeating(5.0):
            found = await asyncio.gather(*(one(run, names) for run, names in present))
        results = [result for batch_results in found for result in batch_results]
        await self._store.save_operator_results(results)
        for (run, _), run_results in zip(present, found, strict=True):
            await self._store.relabel_facts(run, _labels(run_results))
        outcome.analysed = len(present)
        outcome.results = len(results)
        outcome.failed = sum(1 for r in results if r.error is not None)
        log.info(
            "reanalysis_batch_stored",
            reanalysis_id=batch.reanalysis_id,
            analysed=outcome.analysed,
            skipped=outcome.skipped,
            missing=outcome.missing,
            failed=outcome.failed,
        )
        return outcome


def _request(run: StoredRun, lines: list[TranscriptLine], operators: list[str]) -> AnalysisRequest:
    """The analysis of a stored run, as the close analysis would have asked for it."""
    # Evidence points at the stored line (its position in the stored transcript).
    said = [(i, line) for i, line in enumerate(lines) if line.role != Role.SYSTEM and line.text]
    customer_turns = sum(1 for _, line in said if line.role == Role.CUSTOMER)
    return AnalysisRequest(
        conversation_id=run.conversation_id,
        run_id=run.run_id,
        customer=run.customer,
        trigger=OperatorTrigger.REANALYSIS,
        turns=(1, max(1, customer_turns)),
        transcript=[
            AnalysisLine(index=i, role=line.role, text=line.text, channel=line.channel, at=line.at)
            for i, line in said
        ],
        operators=operators,
    )


def _labels(results: list[OperatorResult]) -> FactLabels:
    """The labels insights count, from a run's new results (failed ones left out)."""
    ok = {r.operator: r.result for r in results if r.error is None}
    labels = FactLabels()
    if isinstance(label := ok.get("sentiment", {}).get("label"), str) and label:
        labels.sentiment = label
    if isinstance(label := ok.get("topic", {}).get("label"), str) and label:
        labels.topic = label
    if isinstance(label := ok.get("outcome", {}).get("outcome"), str) and label:
        labels.outcome = label
        resolved = ok["outcome"].get("resolved")
        labels.resolved = resolved if isinstance(resolved, bool) else None
    return labels
