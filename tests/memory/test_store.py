"""The store's behaviour, run against every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.contract.addresses import Channel
from switchboard.memory import MemoryStore, open_store
from switchboard.memory.models import (
    ConversationRecord,
    DocumentIn,
    NewObservation,
    RecallQuery,
    Summary,
    TranscriptLine,
)

ADA = "+14155550100"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

RETURNS = """# Policies

## Returns

Unworn shoes can be returned within 30 days of delivery for a full refund.
Bring the receipt or the order number.

## Shipping

Orders ship within two business days. Express delivery costs $15.
"""


def observation(key: str, text: str, at: datetime = T0) -> NewObservation:
    return NewObservation(key=key, text=text, source="remember", at=at, conversation_ids=["c1"])


def record(
    run: str, lines: list[tuple[str, str]], closed: datetime = T0, **extra: object
) -> ConversationRecord:
    return ConversationRecord(
        customer=ADA,
        conversation_id=f"conv-{ADA}",
        run_id=run,
        closed_at=closed,
        transcript=[
            TranscriptLine(role=role, text=text, channel=Channel.WHATSAPP, at=closed)
            for role, text in lines
        ],
        **extra,
    )


async def test_migrations_apply_once(memory_url: str) -> None:
    first = open_store(memory_url)
    try:
        assert await first.migrate() != []
        assert await first.migrate() == []
    finally:
        await first.close()
    second = open_store(memory_url)  # another process starting later
    try:
        assert await second.migrate() == []
    finally:
        await second.close()


async def test_identity_resolution(store: MemoryStore) -> None:
    assert await store.resolve("+1 (415) 555-0100") == ADA
    assert await store.resolve("whatsapp:+14155550100") == ADA
    assert await store.resolve("ada@example.com") is None
    await store.add_identifier(ADA, "Ada@Example.com", at=T0)
    assert await store.resolve("mailto:ada@example.com") == ADA
    profile = await store.get_profile("whatsapp:+14155550100")
    assert profile is not None
    assert profile.identifiers == ["ada@example.com"]


async def test_an_address_another_profile_holds_is_never_moved(store: MemoryStore) -> None:
    # Moving an e-mail address to another profile would hand that profile's history to
    # whoever claimed it; without verification the address stays where it is.
    bob = "+14155550199"
    assert await store.add_identifier(ADA, "ada@example.com", at=T0) is True
    assert await store.add_identifier(ADA, "Ada@Example.com", at=T0 + timedelta(hours=1))
    assert await store.add_identifier(bob, "ada@example.com", at=T0 + timedelta(hours=2)) is False
    claimed = ConversationRecord(
        customer=bob, conversation_id=f"conv-{bob}", run_id="run-bob",
        closed_at=T0 + timedelta(hours=3), identifiers=["mailto:ada@example.com", bob],
    )  # fmt: skip
    assert await store.save_conversation(claimed)
    assert await store.resolve("ada@example.com") == ADA
    ada, bobs = await store.get_profile(ADA), await store.get_profile(bob)
    assert ada is not None and ada.identifiers == ["ada@example.com"]
    assert bobs is not None and bobs.identifiers == [bob]
    assert await store.add_identifier(bob, "bob@example.com", at=T0) is True
    assert await store.resolve("bob@example.com") == bob


async def test_unknown_customer(store: MemoryStore) -> None:
    assert await store.get_profile(ADA) is None
    assert await store.get_profile("not a number") is None
    assert await store.forget(ADA) is False
    recall = await store.recall(RecallQuery(customer=ADA, query="hello"))
    assert recall.known is False and recall.observations == [] and recall.knowledge == []


async def test_traits_newer_wins(store: MemoryStore) -> None:
    await store.set_trait(ADA, "name", "Ada", source="whatsapp profile", at=T0)
    await store.set_trait(ADA, "name", "Adeline", source="remember", at=T0 - timedelta(days=1))
    await store.set_trait(ADA, "vip", True, source="crm", at=T0)
    await store.set_trait(ADA, "orders", 3, source="crm", at=T0)
    profile = await store.get_profile(ADA)
    assert profile is not None
    assert profile.traits == {"name": "Ada", "orders": 3, "vip": True}
    assert {t.name: t.source for t in profile.trait_details}["name"] == "whatsapp profile"


async def test_observations_are_idempotent(store: MemoryStore) -> None:
    assert await store.add_observation(ADA, observation("run1:3:0", "Prefers email"))
    assert not await store.add_observation(ADA, observation("run1:3:0", "Prefers email"))
    assert await store.add_observation(
        ADA, observation("run1:4:0", "Has a dog", T0 + timedelta(hours=1))
    )
    profile = await store.get_profile(ADA)
    assert profile is not None
    assert [o.text for o in profile.observations] == ["Has a dog", "Prefers email"]
    assert profile.observations[0].conversation_ids == ["c1"]


async def test_conversations_are_written_once(store: MemoryStore) -> None:
    summary = Summary(text="Ada asked about returns.", conversation_id=f"conv-{ADA}", at=T0)
    first = record(
        "run-1", [("customer", "my name is Ada"), ("assistant", "Hi Ada")],
        summary=summary, identifiers=["whatsapp:+14155550100"],
    )  # fmt: skip
    assert await store.save_conversation(first)
    assert not await store.save_conversation(first)
    profile = await store.get_profile(ADA)
    assert profile is not None
    assert [s.text for s in profile.summaries] == ["Ada asked about returns."]
    assert profile.identifiers == ["whatsapp:+14155550100"]
    recall = await store.recall(RecallQuery(customer=ADA, query="anything new?"))
    assert [line.text for line in recall.past_lines] == ["my name is Ada"]


async def test_recall_ranks_what_bears_on_the_message(store: MemoryStore) -> None:
    for i in range(30):
        await store.add_observation(
            ADA, observation(f"k{i}", f"Bought item {i}", T0 + timedelta(minutes=i))
        )
    await store.add_observation(ADA, observation("dog", "Has a dog named Rex", T0))
    lines = [("customer", f"question {i} about my order") for i in range(10)]
    lines.insert(2, ("customer", "my dog chewed the shoes"))
    await store.save_conversation(record("run-1", lines))
    await store.ingest(DocumentIn(name="policies.md", content=RETURNS))
    recall = await store.recall(
        RecallQuery(customer=ADA, query="Can my dog come to the store?", observations_limit=3)
    )
    assert recall.known
    assert recall.observations[0].text == "Has a dog named Rex"
    assert [o.text for o in recall.observations[1:]] == ["Bought item 29", "Bought item 28"]
    assert "my dog chewed the shoes" in [line.text for line in recall.past_lines]
    excluded = await store.recall(RecallQuery(customer=ADA, query="dog", exclude_run_id="run-1"))
    assert excluded.past_lines == []


async def test_knowledge_search_and_reingest(store: MemoryStore) -> None:
    result = await store.ingest(DocumentIn(name="policies.md", content=RETURNS))
    assert result.chunks >= 1 and result.changed
    again = await store.ingest(DocumentIn(name="policies.md", content=RETURNS))
    assert again.model_dump() == {"document": "policies.md", "chunks": result.chunks,
                                  "changed": False}  # fmt: skip
    await store.ingest(
        DocumentIn(name="hours.txt", content="We are open 9 to 5 on weekdays.",
                   content_type="text/plain")
    )  # fmt: skip
    hits = await store.search_knowledge("Can I return my shoes?")
    assert hits and hits[0].document == "policies.md"
    assert "30 days" in hits[0].text and hits[0].section == "Policies > Returns"
    assert hits[0].score > 0
    assert (await store.search_knowledge("opening hours weekdays"))[0].document == "hours.txt"
    assert await store.search_knowledge("the and of") == []

    changed = await store.ingest(
        DocumentIn(name="policies.md", content="# Returns\n\nNo returns on sale items.")
    )
    assert changed.changed and changed.chunks == 1
    texts = [h.text for h in await store.search_knowledge("returns")]
    assert texts == ["No returns on sale items."]
    assert dict(await store.documents()) == {"hours.txt": 1, "policies.md": 1}
    assert await store.delete_document("policies.md")
    assert not await store.delete_document("policies.md")
    assert await store.search_knowledge("returns") == []


async def test_html_is_ingested_as_text(store: MemoryStore) -> None:
    html = (
        "<html><head><style>p{}</style><script>var returns=1</script></head><body>"
        "<h1>Help</h1><h2>Warranty</h2><p>Every kettle has a two-year warranty.</p>"
        "</body></html>"
    )
    await store.ingest(DocumentIn(name="help.html", content=html, content_type="text/html"))
    [hit] = await store.search_knowledge("kettle warranty")
    assert hit.section == "Help > Warranty"
    assert hit.text == "Every kettle has a two-year warranty."
    assert await store.search_knowledge("var") == []


async def test_forget_removes_everything(store: MemoryStore) -> None:
    other = "+14155550199"
    await store.set_trait(ADA, "name", "Ada", source="remember", at=T0)
    await store.add_identifier(ADA, "ada@example.com", at=T0)
    await store.add_observation(ADA, observation("o1", "Prefers email"))
    await store.save_conversation(record("run-1", [("customer", "my dog ate it")]))
    await store.add_observation(other, observation("o2", "Other customer's dog"))
    await store.ingest(DocumentIn(name="policies.md", content=RETURNS))

    assert await store.forget("whatsapp:+14155550100")
    assert await store.get_profile(ADA) is None
    assert await store.resolve("ada@example.com") is None
    recall = await store.recall(RecallQuery(customer=ADA, query="dog email"))
    assert recall.observations == [] and recall.past_lines == [] and recall.traits == []
    # Other customers and the knowledge base are untouched; the key may be written again,
    # by what happens from now on (what was stamped before the forget stays out).
    assert (await store.get_profile(other)) is not None
    assert await store.search_knowledge("returns")
    assert not await store.add_observation(ADA, observation("o1", "Prefers email"))
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert await store.add_observation(ADA, observation("o1", "Prefers email", at=later))


@pytest.mark.parametrize("content_type", ["text/markdown", "text/plain"])
async def test_large_documents_are_chunked(store: MemoryStore, content_type: str) -> None:
    paragraphs = [f"Paragraph {i} talks about topic{i} in some detail. " * 6 for i in range(40)]
    result = await store.ingest(
        DocumentIn(name="big", content="\n\n".join(paragraphs), content_type=content_type)
    )
    assert result.chunks > 10
    [hit] = await store.search_knowledge("topic17", limit=1)
    assert "topic17" in hit.text


async def test_common_words_do_not_drown_the_telling_ones(store: MemoryStore) -> None:
    # 60 passages say "order"; one says "gift wrapping". A question with both words is
    # searched for the rare one, so the gift-wrapping passage comes first.
    for i in range(60):
        await store.ingest(
            DocumentIn(name=f"orders-{i}.md", content=f"# Order {i}\n\nYour order {i} order.")
        )
    await store.ingest(DocumentIn(name="gifts.md", content="# Gifts\n\nWe offer gift wrapping."))
    hits = await store.search_knowledge("gift wrapping for my order", limit=3)
    assert [h.document for h in hits] == ["gifts.md"]
    # A question made only of common words still finds them.
    assert len(await store.search_knowledge("order", limit=3)) == 3
    # A word the knowledge base lacks does not hide the others.
    assert (await store.search_knowledge("order flurbs", limit=1))[0].document.startswith("orders")
