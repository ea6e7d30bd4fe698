"""Operator results and conversation facts in the store, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.contract.addresses import Channel
from switchboard.contract.intelligence import (
    ConversationFacts,
    Evidence,
    InsightsQuery,
    OperatorResult,
    OperatorTrigger,
)
from switchboard.memory import MemoryStore, open_store
from switchboard.memory.models import NewObservation

ADA = "+14155550100"
BOB = "+14155550199"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def conv(customer: str) -> str:
    return f"conv-{customer}"


def result(
    operator: str,
    turns: tuple[int, int],
    *,
    run: str = "run-1",
    customer: str = ADA,
    at: datetime = T0,
    trigger: OperatorTrigger = OperatorTrigger.TURN,
    **extra: Any,
) -> OperatorResult:
    return OperatorResult(
        conversation_id=conv(customer),
        run_id=run,
        customer=customer,
        operator=operator,
        version="1",
        trigger=trigger,
        turns=turns,
        at=at,
        **extra,
    )


def facts(run: str, started: datetime, *, customer: str = ADA, **extra: Any) -> ConversationFacts:
    values: dict[str, Any] = {
        "conversation_id": conv(customer),
        "run_id": run,
        "customer": customer,
        "channels": [Channel.SMS],
        "started_at": started,
        "closed_at": started + timedelta(minutes=10),
        "customer_turns": 3,
        "assistant_turns": 3,
    }
    values.update(extra)
    return ConversationFacts(**values)


def week_of(at: datetime) -> InsightsQuery:
    return InsightsQuery(start=at - timedelta(days=3), end=at + timedelta(days=4))


async def test_a_result_is_stored_once_and_read_back_whole(store: MemoryStore) -> None:
    first = result(
        "sentiment",
        (1, 1),
        result={"label": "negative", "score": -0.6, "nested": {"a": [1, None, True]}},
        evidence=[Evidence(index=0, quote="this is broken")],
        model="gpt-test",
        latency_ms=412.5,
        tokens=180,
    )
    failed = result("topic", (1, 1), at=T0 + timedelta(seconds=1), error="model timed out")
    await store.save_operator_results([first, failed])
    assert await store.operator_results(conv(ADA)) == [first, failed]

    # The activity retried after a crash: the same keys again, newer values, no new rows.
    retried = first.model_copy(
        update={"result": {"label": "neutral", "score": 0.0}, "at": T0 + timedelta(seconds=5)}
    )
    await store.save_operator_results([retried])
    await store.save_operator_results([retried, retried])  # duplicates within one batch too
    stored = await store.operator_results(conv(ADA))
    assert stored == [failed, retried]  # oldest first: the retry's time moved it
    assert stored[1].result == {"label": "neutral", "score": 0.0}
    assert stored[0].error == "model timed out" and stored[0].result == {}
    assert stored[1].at.tzinfo is not None

    # Another turn range, or another version, is another result.
    await store.save_operator_results(
        [
            result("sentiment", (2, 2), at=T0 + timedelta(minutes=1)),
            result("sentiment", (1, 1), at=T0 + timedelta(minutes=2)).model_copy(
                update={"version": "2"}
            ),
        ]
    )
    assert len(await store.operator_results(conv(ADA))) == 4
    await store.save_operator_results([])  # nothing to do


async def test_results_of_the_latest_run_oldest_first(store: MemoryStore) -> None:
    day = timedelta(days=1)
    await store.save_operator_results(
        [
            result("sentiment", (1, 1), run="run-1", at=T0),
            result("summary", (1, 3), run="run-1", at=T0 + timedelta(hours=1)),
        ]
    )
    second = [
        result("topic", (1, 1), run="run-2", at=T0 + day + timedelta(seconds=2)),
        result("sentiment", (1, 1), run="run-2", at=T0 + day),
        result("sentiment", (2, 2), run="run-2", at=T0 + day + timedelta(minutes=3)),
    ]
    await store.save_operator_results(second)
    latest = await store.operator_results(conv(ADA))
    assert [(r.run_id, r.operator, r.turns) for r in latest] == [
        ("run-2", "sentiment", (1, 1)),
        ("run-2", "topic", (1, 1)),
        ("run-2", "sentiment", (2, 2)),
    ]
    # Reanalysing the first run later does not make it the latest.
    await store.save_operator_results(
        [
            result(
                "outcome",
                (1, 3),
                run="run-1",
                at=T0 + 5 * day,
                trigger=OperatorTrigger.REANALYSIS,
            )
        ]
    )
    assert {r.run_id for r in await store.operator_results(conv(ADA))} == {"run-2"}
    # Other conversations are apart.
    assert await store.operator_results(conv(BOB)) == []
    assert await store.operator_results("conv-nobody") == []


async def test_facts_are_one_row_per_run(store: MemoryStore) -> None:
    await store.save_conversation_facts(facts("run-1", T0, sentiment="negative"))
    await store.save_conversation_facts(facts("run-1", T0, sentiment="negative"))
    insights = await store.insights(week_of(T0))
    assert insights.totals.conversations == 1
    assert insights.totals.sentiment == {"negative": 1}
    # Saved again with other values: replaced, still one row.
    await store.save_conversation_facts(facts("run-1", T0, sentiment="positive", handoffs=1))
    totals = (await store.insights(week_of(T0))).totals
    assert totals.conversations == 1
    assert totals.sentiment == {"positive": 1}
    assert totals.handoff_rate == 1.0 and totals.containment_rate == 0.0
    # Another run of the same conversation is another row.
    await store.save_conversation_facts(facts("run-2", T0 + timedelta(hours=1)))
    assert (await store.insights(week_of(T0))).totals.conversations == 2


async def test_first_response_times_are_kept_to_the_microsecond(store: MemoryStore) -> None:
    await store.save_conversation_facts(facts("run-1", T0, first_response_ms=812.3456789))
    await store.save_conversation_facts(facts("run-2", T0 + timedelta(hours=2)))  # none
    totals = (await store.insights(week_of(T0))).totals
    assert totals.first_response_ms.p50 == 812.346 == totals.first_response_ms.p95


async def test_repeat_contacts_whatever_order_the_runs_are_saved_in(store: MemoryStore) -> None:
    hour = timedelta(hours=1)
    first = facts("run-1", T0)  # closes T0 + 10 min; the next starts 20 h later: a repeat
    second = facts("run-2", T0 + 20 * hour)  # the next starts 30 h after its close: none
    third = facts("run-3", T0 + 50 * hour + timedelta(minutes=10))
    fourth = facts("run-4", T0 + 60 * hour, handoffs=1)  # handed off: not contained
    for saved in (third, first, fourth, second, first):
        await store.save_conversation_facts(saved)
    query = InsightsQuery(start=T0, end=T0 + timedelta(days=3))
    totals = (await store.insights(query)).totals
    assert totals.contained == 3
    assert totals.repeat_contact_rate == 2 / 3  # the first and the third
    # The follow-up may start after the range: it still makes a repeat contact.
    only_second = InsightsQuery(start=T0 + 10 * hour, end=T0 + 21 * hour)
    assert (await store.insights(only_second)).totals.repeat_contact_rate == 0.0
    third_only = InsightsQuery(start=T0 + 40 * hour, end=T0 + 55 * hour)
    assert (await store.insights(third_only)).totals.repeat_contact_rate == 1.0


async def test_forget_deletes_results_and_facts(store: MemoryStore) -> None:
    await store.save_operator_results([result("sentiment", (1, 1)), result("topic", (1, 1))])
    await store.save_operator_results([result("sentiment", (1, 1), customer=BOB)])
    await store.save_conversation_facts(facts("run-1", T0))
    await store.save_conversation_facts(facts("run-b", T0, customer=BOB))

    # Known only through intelligence (no profile): still known, and forgotten.
    assert await store.forget(f"whatsapp:{ADA}")
    assert await store.operator_results(conv(ADA)) == []
    assert (await store.insights(week_of(T0))).totals.conversations == 1  # Bob's
    assert len(await store.operator_results(conv(BOB))) == 1
    assert not await store.forget(ADA)  # nothing left

    # With a profile as well.
    await store.add_observation(
        BOB, NewObservation(key="o1", text="Likes tea", source="remember", at=T0)
    )
    assert await store.forget(BOB)
    assert await store.operator_results(conv(BOB)) == []
    assert (await store.insights(week_of(T0))).totals.conversations == 0
    assert not await store.forget("not a number")


async def test_the_intelligence_migration_applies(memory_url: str) -> None:
    store = open_store(memory_url)
    try:
        assert (await store.migrate())[:2] == [1, 2]
        await store.save_conversation_facts(facts("run-1", T0))
    finally:
        await store.close()
