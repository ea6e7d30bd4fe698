"""Opening the configured memory store in a worker, gateway or command."""

from __future__ import annotations

import structlog

from switchboard.memory.embeddings import Embedder, OpenAIEmbedder
from switchboard.memory.store import MemoryStore, open_store
from switchboard.runtime.config import Settings

log = structlog.get_logger(__name__)


def embedder_from(settings: Settings) -> Embedder | None:
    """The embeddings client when ``EMBEDDING_MODEL`` is set (endpoint defaults to the LLM's)."""
    if not settings.embedding_model:
        return None
    base_url = settings.embedding_base_url or settings.llm_base_url
    if not base_url:
        raise ValueError("EMBEDDING_MODEL needs EMBEDDING_BASE_URL or LLM_BASE_URL")
    key = settings.embedding_api_key or settings.llm_api_key
    return OpenAIEmbedder(
        base_url, settings.embedding_model, key.get_secret_value() if key else None
    )


async def open_memory(settings: Settings) -> MemoryStore:
    """The store ``MEMORY_DATABASE_URL`` names, migrated to the current schema."""
    store = open_store(settings.memory_database_url, embedder=embedder_from(settings))
    applied = await store.migrate()
    if applied:
        log.info("memory_migrated", backend=store.backend, versions=applied)
    return store
