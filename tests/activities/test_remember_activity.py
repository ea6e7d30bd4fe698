"""The ``remember`` activity and e-mail addresses, on each memory backend.

A customer's own e-mail address joins their profile; one that another profile holds stays
there, and the claim is kept as an unverified trait on the claimant's profile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.memory import MemoryActivities
from switchboard.memory import MemoryStore, open_store
from switchboard.memory.models import RecallQuery, RememberRequest
from switchboard.runtime.config import Settings

ADA = "+14155550100"
MALLORY = "+14155550166"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
async def store(memory_url: str) -> AsyncIterator[MemoryStore]:
    memory = open_store(memory_url)
    await memory.migrate()
    try:
        yield memory
    finally:
        await memory.close()


def remembered(customer: str, value: str, at: datetime = T0) -> RememberRequest:
    return RememberRequest(
        customer=customer,
        conversation_id=f"conv-{customer}",
        fact=f"Their email is {value}",
        trait="email",
        value=value,
        at=at,
    )


async def remember(store: MemoryStore, request: RememberRequest) -> str:
    activities = MemoryActivities(store, Settings(), None)
    return await ActivityEnvironment().run(activities.remember, request)


async def test_an_unclaimed_address_joins_the_profile(store: MemoryStore) -> None:
    assert await remember(store, remembered(ADA, "Ada@Example.com")) == "Saved."
    assert await remember(store, remembered(ADA, "Ada@Example.com")) == "Already known."
    assert await store.resolve("ada@example.com") == ADA
    profile = await store.get_profile(ADA)
    assert profile is not None
    assert profile.identifiers == ["ada@example.com"]
    assert profile.traits == {"email": "Ada@Example.com"}


async def test_someone_elses_address_is_kept_as_an_unverified_claim(store: MemoryStore) -> None:
    await remember(store, remembered(ADA, "ada@example.com"))
    later = T0 + timedelta(hours=1)
    # The same answer as any other fact: the tool does not tell who holds an address.
    assert await remember(store, remembered(MALLORY, "ADA@example.com", later)) == "Saved."

    assert await store.resolve("ada@example.com") == ADA
    ada = await store.get_profile(ADA)
    assert ada is not None and ada.identifiers == ["ada@example.com"]
    assert ada.traits == {"email": "ada@example.com"}

    mallory = await store.get_profile(MALLORY)
    assert mallory is not None
    assert mallory.identifiers == []
    assert mallory.traits == {"unverified_email": "ADA@example.com"}
    assert [o.text for o in mallory.observations] == ["Their email is ADA@example.com"]
    # Ada's recall knows nothing of the claim.
    recall = await store.recall(RecallQuery(customer=ADA, query="email"))
    assert [o.text for o in recall.observations] == ["Their email is ada@example.com"]


async def test_a_retried_claim_does_not_move_it_either(store: MemoryStore) -> None:
    await remember(store, remembered(ADA, "ada@example.com"))
    for _ in range(2):
        await remember(store, remembered(MALLORY, "ada@example.com", T0 + timedelta(hours=1)))
    assert await store.resolve("ada@example.com") == ADA


async def test_an_address_that_is_not_one_stays_a_trait(store: MemoryStore) -> None:
    assert await remember(store, remembered(ADA, "ada at example dot com")) == "Saved."
    profile = await store.get_profile(ADA)
    assert profile is not None
    assert profile.identifiers == [] and profile.traits == {"email": "ada at example dot com"}
