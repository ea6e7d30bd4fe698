"""Hybrid knowledge search: full-text ranking fused with vectors from an embeddings endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from switchboard.memory import MemoryStore, open_store
from switchboard.memory.embeddings import OpenAIEmbedder
from switchboard.memory.models import DocumentIn
from tests.support.fake_llm import FakeLLM
from tests.support.server import serve

KEY = "sk-embed"
DOCS = {
    "returns.md": "# Returns\n\nUnworn shoes can be sent back within 30 days for a full refund.",
    "shipping.md": "# Shipping\n\nParcels leave the warehouse within two business days.",
    "hours.md": "# Hours\n\nThe shop opens at nine and closes at five on weekdays.",
}


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLLM, str]]:
    fake = FakeLLM(KEY)
    # "money" means what "refund" means; "delivery" what "parcels" means: no shared words.
    fake.synonyms = {"money": "refund", "delivery": "parcels", "open": "opens"}
    async with serve(fake.app) as url:
        yield fake, f"{url}/v1"


@pytest.fixture
async def hybrid(memory_url: str, llm: tuple[FakeLLM, str]) -> AsyncIterator[MemoryStore]:
    embedder = OpenAIEmbedder(llm[1], "fake-embedding", KEY)
    store = open_store(memory_url, embedder=embedder)
    await store.migrate()
    for name, content in DOCS.items():
        await store.ingest(DocumentIn(name=name, content=content))
    yield store
    await store.close()
    await embedder.close()


async def test_vectors_find_what_words_do_not(hybrid: MemoryStore) -> None:
    [first, *_] = await hybrid.search_knowledge("how do I get my money back?", limit=2)
    assert first.document == "returns.md"
    [first, *_] = await hybrid.search_knowledge("delivery", limit=2)
    assert first.document == "shipping.md"


async def test_both_rankings_agree_on_an_exact_match(hybrid: MemoryStore) -> None:
    hits = await hybrid.search_knowledge("weekdays shop hours", limit=3)
    assert hits[0].document == "hours.md"
    assert hits[0].score > hits[-1].score


async def test_chunks_are_embedded_once_and_reembedded_when_embeddings_are_turned_on(
    memory_url: str, llm: tuple[FakeLLM, str]
) -> None:
    fake, url = llm
    plain = open_store(memory_url)
    await plain.migrate()
    await plain.ingest(DocumentIn(name="returns.md", content=DOCS["returns.md"]))
    assert await plain.search_knowledge("money") == []  # no shared word, no vectors
    await plain.close()

    embedder = OpenAIEmbedder(url, "fake-embedding", KEY)
    store = open_store(memory_url, embedder=embedder)
    try:
        again = await store.ingest(DocumentIn(name="returns.md", content=DOCS["returns.md"]))
        assert again.changed  # stored without vectors: embedded now
        assert (await store.search_knowledge("money"))[0].document == "returns.md"
        before = len(fake.embedding_requests)
        unchanged = await store.ingest(DocumentIn(name="returns.md", content=DOCS["returns.md"]))
        assert not unchanged.changed and len(fake.embedding_requests) == before
    finally:
        await store.close()
        await embedder.close()


async def test_a_failing_endpoint_falls_back_to_full_text(memory_url: str) -> None:
    embedder = OpenAIEmbedder("http://127.0.0.1:9/v1", "fake-embedding", KEY)  # nothing there
    store = open_store(memory_url, embedder=embedder)
    await store.migrate()
    try:
        result = await store.ingest(DocumentIn(name="returns.md", content=DOCS["returns.md"]))
        assert result.chunks == 1
        assert (await store.search_knowledge("refund"))[0].document == "returns.md"
    finally:
        await store.close()
        await embedder.close()
