"""Operators that ask for context get the customer's memory and the knowledge base."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.intelligence import store_recall
from switchboard.memory import MemoryStore
from switchboard.memory.models import DocumentIn, NewObservation

CUSTOMER = "+14155550100"
AT = datetime(2026, 12, 5, tzinfo=UTC)


async def test_memory_and_knowledge_come_apart(store: MemoryStore) -> None:
    await store.add_observation(
        CUSTOMER,
        NewObservation(key="k1", text="Prefers email over calls", source="remember", at=AT),
    )
    await store.ingest(
        DocumentIn(
            name="returns.md",
            content="# Returns\n\nParcels can be returned within 30 days.",
            content_type="text/markdown",
        )
    )
    memory, knowledge = await store_recall(store)(CUSTOMER, "can I return a parcel by email?")
    assert "Prefers email over calls" in memory
    assert "30 days" in knowledge
    assert "30 days" not in memory


async def test_an_unknown_customer_gets_no_memory(store: MemoryStore) -> None:
    memory, _ = await store_recall(store)("+14155550199", "hello")
    assert "Prefers" not in memory
