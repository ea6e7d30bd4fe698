"""The sides a SQL backend supplies to ``SqlStore``, and the small helpers they share.

``ProfileSide`` (profiles, traits, observations, conversations), ``KnowledgeSide`` (the
knowledge base) and ``InsightsSide`` (operator results, conversation facts, the per-day
counts insights fold): each a database round trip a call, or nearly. ``SqlStore``
(``switchboard.memory.base``) forwards to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.contract.intelligence import ConversationFacts, InsightsQuery, OperatorResult
from switchboard.contract.reanalysis import RunCursor, RunSelection, StoredRun
from switchboard.insights import InsightsRows
from switchboard.memory.chunking import Chunk
from switchboard.memory.models import (
    ConversationRecord,
    DocumentIn,
    FactLabels,
    KnowledgeHit,
    NewObservation,
    Observation,
    PastLine,
    Profile,
    RecallQuery,
    StoredDataKey,
    Summary,
    Trait,
    TraitValue,
    TranscriptLine,
)


@dataclass
class ProfileParts:
    """A customer's memory as one round trip reads it, newest first."""

    known: bool
    identifiers: list[str]
    traits: list[Trait]
    observations: list[Observation]
    summaries: list[Summary]
    lines: list[PastLine]


def profile_of(customer: str, parts: ProfileParts, created_at: datetime | None) -> Profile:
    """The operator API's profile from what a backend read."""
    return Profile(
        customer=customer,
        identifiers=parts.identifiers,
        traits={t.name: t.value for t in parts.traits},
        trait_details=parts.traits,
        observations=parts.observations,
        summaries=parts.summaries,
        created_at=created_at,
    )


class ProfileSide(Protocol):
    """A backend's profile side: identifiers, traits, observations, conversations."""

    async def resolve(self, address: str) -> str | None:
        """The customer an address belongs to (see ``MemoryStore.resolve``)."""

    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> bool:
        """Attach an address to a customer unless another profile holds it (see ``MemoryStore``)."""

    async def set_trait(
        self, customer: str, name: str, value: TraitValue, *, source: str, at: datetime
    ) -> None:
        """Set a trait unless a newer value is stored."""

    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation once per key."""

    async def save_conversation(self, record: ConversationRecord) -> bool:
        """Store a closed run once: summary, transcript, and the addresses it used."""

    async def get_profile(self, customer: str, *, limit: int = 50) -> Profile | None:
        """The whole profile, newest observations and summaries first."""

    async def forget(self, customer: str) -> bool:
        """Delete the profile; identifiers, traits, observations, conversations cascade."""

    async def recall_parts(self, query: RecallQuery) -> ProfileParts:
        """Identifiers, traits, latest observations, summaries and earlier lines."""


class KnowledgeSide(Protocol):
    """A backend's knowledge side: documents, their chunks, full-text search."""

    async def fts_chunks(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        """Chunk ids matching any term, best first, with the full-text score (higher better)."""

    async def term_count(self, term: str) -> int:
        """How many chunks contain ``term`` ("" counts every chunk)."""

    async def chunks(self, ids: list[int]) -> dict[int, KnowledgeHit]:
        """Chunks by id (score 0; the caller ranks them)."""

    async def revision(self) -> str:
        """Changes whenever a document is ingested or deleted."""

    async def all_vectors(self) -> list[tuple[int, bytes]]:
        """Every chunk id with its stored vector (or empty bytes)."""

    async def document_digest(self, name: str) -> tuple[str, int] | None:
        """The stored document's content digest and chunk count."""

    async def replace_document(
        self, document: DocumentIn, digest: str, chunks: list[Chunk], vectors: list[bytes | None]
    ) -> None:
        """Store a document's chunks in place of the old ones, in one transaction."""

    async def delete_document(self, name: str) -> bool:
        """Remove a document and its chunks."""

    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count."""


CHANNEL_BITS: dict[str, int] = {"sms": 1, "whatsapp": 2, "voice": 4}
"""``conversation_facts.channel_mask``: a bit per channel, so one test filters by channel."""


def channel_mask(channels: Sequence[str]) -> int:
    """The ``channel_mask`` of a run that used ``channels``."""
    mask = 0
    for channel in channels:
        mask |= CHANNEL_BITS.get(str(channel), 0)
    return mask


def customer_key(customer: str) -> str:
    """How intelligence rows name a customer: E.164 when it parses, as given otherwise."""
    try:
        return to_e164(customer)
    except InvalidAddress:
        return customer.strip()


def stored_millis(ms: float | None) -> float | None:
    """A duration in milliseconds as stored: to the microsecond (so it reads back exactly)."""
    return None if ms is None else round(ms, 3)


def selection_where(
    selection: RunSelection,
    after: RunCursor | None,
    mark: Callable[[str], str],
    time: Callable[[datetime], Any],
) -> tuple[str, dict[str, Any]]:
    """The ``WHERE`` clause and parameters of a re-analysis page over ``conversations``.

    ``mark`` writes a named parameter in the backend's style, ``time`` a stored time.
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if selection.start is not None:
        clauses.append(f"closed_at >= {mark('start')}")
        params["start"] = time(selection.start)
    if selection.end is not None:
        clauses.append(f"closed_at < {mark('end')}")
        params["end"] = time(selection.end)
    if selection.customer is not None:
        clauses.append(f"customer = {mark('customer')}")
        params["customer"] = customer_key(selection.customer)
    if after is not None:
        clauses.append(f"(closed_at, run_id) > ({mark('after_at')}, {mark('after_run')})")
        params["after_at"], params["after_run"] = time(after.closed_at), after.run_id
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def unique_results(results: Sequence[OperatorResult]) -> list[OperatorResult]:
    """``results`` with one per stored key (the last wins), in their order."""
    by_key = {
        (r.conversation_id, r.run_id, r.operator, r.version, r.turns[0], r.turns[1]): r
        for r in results
    }
    return list(by_key.values())


class InsightsSide(Protocol):
    """A backend's intelligence side: operator results, conversation facts, their aggregates."""

    async def save_operator_results(self, results: Sequence[OperatorResult]) -> None:
        """Upsert results (distinct keys) by (conversation, run, operator, version, turns)."""

    async def operator_results(self, conversation_id: str) -> list[OperatorResult]:
        """The latest run's results, oldest first."""

    async def save_conversation_facts(self, facts: ConversationFacts) -> None:
        """Upsert a run's facts; keep the repeat-contact flags of the customer's runs right."""

    async def insights_rows(self, query: InsightsQuery) -> InsightsRows:
        """The per-day counts, labels and first-response times of the range's runs."""

    async def forget(self, customer: str) -> bool:
        """Delete the customer's results and facts (False: there were none)."""

    async def count_stored_runs(self, selection: RunSelection) -> int:
        """How many stored runs ``selection`` picks (its limit applied)."""

    async def stored_runs(
        self, selection: RunSelection, after: RunCursor | None, limit: int
    ) -> list[StoredRun]:
        """A page of stored runs in (closed_at, run id) order, after ``after``."""

    async def stored_transcripts(self, run_ids: Sequence[str]) -> dict[str, list[TranscriptLine]]:
        """The stored transcripts of ``run_ids``."""

    async def analysed(
        self, runs: Sequence[StoredRun], versions: dict[str, str]
    ) -> set[tuple[str, str]]:
        """The (run id, operator) pairs holding a result of the operator's given version."""

    async def relabel_facts(self, run: StoredRun, labels: FactLabels) -> None:
        """Set the given labels of a run's stored facts."""


class KeySide(Protocol):
    """A backend's payload data keys (``switchboard.runtime.data_keys``), wrapped."""

    async def latest_data_key(self, scope: str) -> StoredDataKey | None:
        """The newest data key of ``scope`` (a customer's number, or ``shared``)."""

    async def data_key(self, key_id: str) -> StoredDataKey | None:
        """The data key with this id."""

    async def add_data_key(self, key: StoredDataKey) -> None:
        """Store a new data key."""

    async def claim_request_key(
        self, scope: str, key: str, digest: str, *, now: datetime, expires_at: datetime
    ) -> str | None:
        """Record the key unless a live record exists; that record's digest, else None."""

    async def release_request_key(self, scope: str, key: str) -> None:
        """Forget a claim whose request was not carried out."""

    async def request_key_seen(self, scope: str, key: str, *, now: datetime) -> bool:
        """Whether a live record of the key exists."""

    async def forgotten_at(self, customer_hash: str) -> datetime | None:
        """When the customer with this hash was last forgotten (None: never)."""

    async def add_tombstone(self, customer_hash: str, at: datetime) -> None:
        """Record that the customer with this hash was forgotten at ``at``."""

    async def forget(self, customer: str) -> bool:
        """Delete the customer's data keys (False: there were none)."""
