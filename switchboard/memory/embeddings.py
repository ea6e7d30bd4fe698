"""Optional vector similarity: an OpenAI-compatible embeddings endpoint and an in-process index.

When ``EMBEDDING_MODEL`` is set, chunks are embedded at ingest and queries at search time;
the store ranks chunks by cosine similarity and fuses that ranking with full-text ranking.
Vectors are kept in the database (so every process shares them) and searched in memory:
exact, and a few milliseconds for tens of thousands of chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import httpx
import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into vectors."""

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One unit-length vector per text, in order."""
        ...


class OpenAIEmbedder:
    """``POST {base_url}/embeddings`` (OpenAI, Azure, vLLM, Ollama, LM Studio, …)."""

    BATCH = 64

    def __init__(self, base_url: str, model: str, api_key: str | None = None) -> None:
        self._model = model
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key or 'unused'}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
        )

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Embed in batches; raises ``httpx.HTTPError`` when the endpoint fails."""
        vectors: list[Vector] = []
        for start in range(0, len(texts), self.BATCH):
            batch = list(texts[start : start + self.BATCH])
            response = await self._http.post(
                "/embeddings", json={"model": self._model, "input": batch}
            )
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors.extend(normalised(item["embedding"]) for item in data)
        return vectors

    async def close(self) -> None:
        """Release the HTTP connections."""
        await self._http.aclose()


def normalised(values: Sequence[float] | Vector) -> Vector:
    """A float32 copy scaled to unit length (cosine similarity becomes a dot product)."""
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def to_bytes(vector: Vector) -> bytes:
    """How a vector is stored."""
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(blob: bytes) -> Vector:
    """A stored vector."""
    return np.frombuffer(blob, dtype=np.float32)


class VectorIndex:
    """Every chunk vector of the knowledge base in one matrix, reloaded when it changes."""

    def __init__(self) -> None:
        self._revision: str | None = None
        self._ids: list[int] = []
        self._matrix: Vector = np.zeros((0, 0), dtype=np.float32)
        self._lock = asyncio.Lock()

    async def nearest(
        self,
        query: Vector,
        limit: int,
        revision: str,
        load: Callable[[], Awaitable[list[tuple[int, bytes]]]],
    ) -> list[int]:
        """Ids of the ``limit`` chunks most similar to ``query``.

        ``revision`` is the knowledge base's stored revision; when it differs from the one
        loaded, ``load`` fetches every (chunk id, vector) again.
        """
        async with self._lock:
            if revision != self._revision:
                rows = [(i, blob) for i, blob in await load() if blob]
                self._ids = [i for i, _ in rows]
                self._matrix = (
                    np.vstack([from_bytes(blob) for _, blob in rows])
                    if rows
                    else np.zeros((0, 0), dtype=np.float32)
                )
                self._revision = revision
        if not self._ids or self._matrix.shape[1] != query.shape[0]:
            return []
        scores = self._matrix @ query
        top = np.argsort(-scores)[:limit]
        return [self._ids[i] for i in top]
