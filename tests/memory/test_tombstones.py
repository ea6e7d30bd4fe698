"""A forgotten customer's data cannot come back through a write already on its way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.contract.addresses import Channel
from switchboard.contract.intelligence import OperatorResult, OperatorTrigger
from switchboard.memory import MemoryStore
from switchboard.memory.models import (
    ConversationRecord,
    NewObservation,
    RecallQuery,
    Summary,
    TranscriptLine,
)

ADA = "+14155550100"


def line(text: str, at: datetime) -> TranscriptLine:
    return TranscriptLine(role="customer", text=text, channel=Channel.SMS, at=at)


def record(run: str, lines: list[TranscriptLine], closed: datetime) -> ConversationRecord:
    return ConversationRecord(
        customer=ADA, conversation_id=f"conv-{ADA}", run_id=run, closed_at=closed,
        transcript=lines,
        summary=Summary(text="about the dog Rex", conversation_id=f"conv-{ADA}", at=closed),
    )  # fmt: skip


async def test_a_closing_record_from_before_the_forget_brings_nothing_back(
    store: MemoryStore,
) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    await store.add_observation(ADA, NewObservation(text="has a dog", source="t", at=before,
                                                    key="k0"))  # fmt: skip
    assert await store.forget(ADA)
    # The closing record that was waiting for its summary model while the forget landed.
    assert not await store.save_conversation(record("run-1", [line("my dog Rex", before)], before))
    assert not await store.add_observation(
        ADA, NewObservation(text="Rex", source="t", at=before, key="k1")
    )
    await store.set_trait(ADA, "pet", "Rex", source="t", at=before)
    await store.add_identifier(ADA, "ada@example.com", at=before)
    assert await store.get_profile(ADA) is None


async def test_what_was_said_after_the_forget_is_kept(store: MemoryStore) -> None:
    assert not await store.forget(ADA)  # nothing known yet: the tombstone is written anyway
    now = datetime.now(UTC)
    old, new = line("my dog Rex", now - timedelta(minutes=1)), line("hello again", now)
    assert await store.save_conversation(record("run-2", [old, new], now))
    await store.set_trait(ADA, "drink", "tea", source="t", at=now)
    profile = await store.get_profile(ADA)
    assert profile is not None and profile.traits == {"drink": "tea"}
    assert profile.summaries == []  # the summary spoke of a line that went
    recall = await store.recall(RecallQuery(customer=ADA, query="hello"))
    assert "Rex" not in recall.model_dump_json()


async def test_analyses_finishing_after_the_forget_are_dropped(store: MemoryStore) -> None:
    assert not await store.forget(ADA)
    result = OperatorResult(
        conversation_id=f"conv-{ADA}", run_id="run-1", customer=ADA, operator="summary",
        version="1", trigger=OperatorTrigger.CLOSE, turns=(1, 2),
        result={"text": "Rex the dog"}, at=datetime.now(UTC),
    )  # fmt: skip
    await store.save_operator_results([result])
    assert await store.operator_results(f"conv-{ADA}") == []
