"""Stored runs as a re-analysis reads them, on every backend: pages, transcripts, skips, labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.contract.addresses import Channel
from switchboard.contract.intelligence import InsightsQuery, OperatorResult, OperatorTrigger
from switchboard.contract.reanalysis import RunSelection, StoredRun
from switchboard.memory import MemoryStore
from switchboard.memory.models import ConversationRecord, FactLabels, TranscriptLine
from tests.memory.test_intelligence_store import facts

ADA = "+14155550100"
BOB = "+14155550199"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def record(customer: str, run: str, closed: datetime, lines: int = 2) -> ConversationRecord:
    said = [
        TranscriptLine(
            role="customer" if i % 2 == 0 else "assistant",
            text=f"{run} line {i}",
            channel=Channel.SMS,
            at=closed - timedelta(minutes=lines - i),
        )
        for i in range(lines)
    ]
    return ConversationRecord(
        customer=customer,
        conversation_id=f"conv-{customer}",
        run_id=run,
        closed_at=closed,
        transcript=said,
    )


async def fill(store: MemoryStore) -> list[ConversationRecord]:
    records = [
        record(ADA if i % 3 else BOB, f"run-{i:02d}", T0 + timedelta(minutes=i // 2), lines=i % 4)
        for i in range(12)
    ]
    for r in reversed(records):  # stored out of order: pages come in closing order anyway
        await store.save_conversation(r)
    return records


async def test_pages_follow_closing_order_and_the_selection(store: MemoryStore) -> None:
    records = await fill(store)
    everything = RunSelection()
    assert await store.count_stored_runs(everything) == 12
    pages: list[list[StoredRun]] = []
    after = None
    while page := await store.stored_runs(everything, after, 5):
        pages.append(page)
        after = page[-1].cursor
    assert [len(p) for p in pages] == [5, 5, 2]
    # Two runs share each closing time: the run id breaks the tie, so none is read twice.
    assert [r.run_id for p in pages for r in p] == [r.run_id for r in records]
    assert pages[0][0].customer == BOB and pages[0][0].conversation_id == f"conv-{BOB}"

    bob = RunSelection(customer=BOB)
    assert [r.run_id for r in await store.stored_runs(bob, None, 100)] == [
        "run-00", "run-03", "run-06", "run-09",
    ]  # fmt: skip
    window = RunSelection(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3))
    assert [r.run_id for r in await store.stored_runs(window, None, 100)] == [
        "run-02", "run-03", "run-04", "run-05",
    ]  # fmt: skip
    assert await store.count_stored_runs(window) == 4
    assert await store.count_stored_runs(RunSelection(limit=7)) == 7


async def test_transcripts_of_a_batch_in_order(store: MemoryStore) -> None:
    records = await fill(store)
    found = await store.stored_transcripts(["run-03", "run-07", "run-00", "run-unknown"])
    assert set(found) == {"run-03", "run-07"}  # run-00 has no lines; unknown runs are absent
    assert found["run-03"] == records[3].transcript
    assert [line.text for line in found["run-07"]] == [f"run-07 line {i}" for i in range(3)]


async def test_analysed_pairs_are_those_of_the_current_version(store: MemoryStore) -> None:
    records = await fill(store)
    runs = await store.stored_runs(RunSelection(), None, 100)

    def result(
        run: StoredRun, operator: str, version: str, error: str | None = None
    ) -> OperatorResult:
        return OperatorResult(
            conversation_id=run.conversation_id, run_id=run.run_id, customer=run.customer,
            operator=operator, version=version, trigger=OperatorTrigger.CLOSE, turns=(1, 2),
            at=T0, error=error,
        )  # fmt: skip

    await store.save_operator_results(
        [
            result(runs[0], "topic", "v2"),
            result(runs[1], "topic", "v1"),  # an older version: not done
            result(runs[2], "topic", "v2", error="timed out"),  # a failure: not done
            result(runs[3], "sentiment", "s1"),
        ]
    )
    done = await store.analysed(runs, {"topic": "v2", "sentiment": "s1"})
    assert done == {(records[0].run_id, "topic"), (records[3].run_id, "sentiment")}
    assert await store.analysed(runs[1:3], {"topic": "v2"}) == set()


async def test_relabel_changes_only_the_labels_given(store: MemoryStore) -> None:
    await store.save_conversation(record(ADA, "run-1", T0))
    await store.save_conversation_facts(
        facts("run-1", T0 - timedelta(minutes=5), sentiment="neutral", topic="billing")
    )
    run = (await store.stored_runs(RunSelection(), None, 1))[0]
    await store.relabel_facts(run, FactLabels(topic="refunds", outcome="resolved", resolved=True))
    query = InsightsQuery(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    insights = await store.insights(query)
    assert insights.totals.topics == {"refunds": 1}
    assert insights.totals.sentiment == {"neutral": 1}
    assert insights.totals.resolved == 1
    await store.relabel_facts(run, FactLabels())  # nothing to set: nothing happens
