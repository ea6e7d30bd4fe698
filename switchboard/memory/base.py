"""What both SQL backends share: recall composition, hybrid knowledge search, ingest, insights.

A backend supplies its profile side, its knowledge side and its insights side
(``ProfileSide``, ``KnowledgeSide``, ``InsightsSide``, in ``switchboard.memory.sides``: one
database round trip a call, or nearly); ``SqlStore`` forwards to them, and the ranking, the
metrics and the shape of the results live here (and in ``switchboard.insights``) once, so
SQLite and PostgreSQL cannot drift apart.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.contract.intelligence import (
    ConversationFacts,
    Insights,
    InsightsQuery,
    OperatorResult,
)
from switchboard.contract.reanalysis import RunCursor, RunSelection, StoredRun
from switchboard.insights import InsightsRows, compute
from switchboard.memory import text_search, tombstones
from switchboard.memory.chunking import Chunk, chunk_text
from switchboard.memory.embeddings import Embedder, VectorIndex, to_bytes
from switchboard.memory.key_forwards import KeyForwards
from switchboard.memory.models import (
    ConversationRecord,
    DocumentIn,
    FactLabels,
    IngestResult,
    KnowledgeHit,
    NewObservation,
    PastLine,
    Profile,
    Recall,
    RecallQuery,
    TraitValue,
    TranscriptLine,
)
from switchboard.memory.sides import (
    InsightsSide,
    KeySide,
    KnowledgeSide,
    ProfileParts,
    ProfileSide,
    unique_results,
)
from switchboard.memory.store import MemoryStore

log = structlog.get_logger(__name__)

OBSERVATION_WINDOW = 200
"""Recall ranks a customer's latest observations (this many) against the message."""
LINE_WINDOW = 400
"""Recall ranks the customer's lines of their latest earlier conversations (this many)."""
_FTS_CANDIDATES = 20
COMMON_FRACTION = 0.1
"""A query term in more than this share of the chunks is left out when rarer terms remain."""
COMMON_MINIMUM = 50
"""…and in more than this many: a small knowledge base is searched for every term."""
_COUNTS_KEPT = 10_000


class SqlStore(KeyForwards, MemoryStore):
    """Recall, knowledge and insights logic over a backend's profile, knowledge and insights sides.

    Every profile, document and intelligence call goes to the side that owns its tables; a
    backend adds the database's own ``migrate`` and ``close``.

    Args:
        embedder: Embeds chunks and queries for hybrid search (None: full text only).
        profiles: The backend's profile side.
        knowledge: The backend's knowledge side.
        insights: The backend's insights side.
        keys: The backend's payload data keys.
    """

    def __init__(
        self,
        embedder: Embedder | None,
        profiles: ProfileSide,
        knowledge: KnowledgeSide,
        insights: InsightsSide,
        keys: KeySide,
    ) -> None:
        self._embedder = embedder
        self._profiles = profiles
        self._knowledge = knowledge
        self._insights = insights
        self._keys = keys
        self._vectors = VectorIndex()
        self._counts: dict[str, int] = {}  # chunks per term, at ``_counts_revision``
        self._counts_revision: str | None = None

    # --- profiles -------------------------------------------------------------------------

    async def resolve(self, address: str) -> str | None:
        """The customer an address belongs to (see ``MemoryStore.resolve``)."""
        return await self._profiles.resolve(address)

    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> bool:
        """Attach an address to a customer unless another profile holds it (see ``MemoryStore``)."""
        forgotten = await self._forgotten(customer)
        if not tombstones.after(forgotten, at):
            return False
        added = await self._profiles.add_identifier(customer, address, at=at)
        await self._settle(customer, forgotten)
        return added

    async def set_trait(
        self, customer: str, name: str, value: TraitValue, *, source: str, at: datetime
    ) -> None:
        """Set a trait unless a newer value is stored (or the customer was forgotten since)."""
        forgotten = await self._forgotten(customer)
        if tombstones.after(forgotten, at):
            await self._profiles.set_trait(customer, name, value, source=source, at=at)
            await self._settle(customer, forgotten)

    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation once per key (not one from before a forget)."""
        forgotten = await self._forgotten(customer)
        if not tombstones.after(forgotten, observation.at):
            return False
        added = await self._profiles.add_observation(customer, observation)
        await self._settle(customer, forgotten)
        return added

    async def save_conversation(self, record: ConversationRecord) -> bool:
        """Store a closed run once: summary, transcript, and the addresses it used.

        After a forget, only what was said after it (``switchboard.memory.tombstones``).
        """
        forgotten = await self._forgotten(record.customer)
        kept = tombstones.surviving(record, forgotten)
        if kept is None:
            return False
        saved = await self._profiles.save_conversation(kept)
        await self._settle(record.customer, forgotten)
        return saved

    async def _forgotten(self, customer: str) -> datetime | None:
        try:
            number = to_e164(customer)
        except InvalidAddress:
            return None
        return await self._keys.forgotten_at(tombstones.customer_hash(number))

    async def _settle(self, customer: str, before: datetime | None) -> None:
        """A forget that landed while we wrote: delete again, so it has the last word."""
        if await self._forgotten(customer) != before:
            await self._erase(to_e164(customer))

    async def _recently_forgotten(self, customer: str) -> bool:
        forgotten = await self._forgotten(customer)
        return forgotten is not None and datetime.now(UTC) - forgotten < tombstones.DERIVED_QUIET

    async def get_profile(self, customer: str, *, limit: int = 50) -> Profile | None:
        """The whole profile, newest observations and summaries first."""
        return await self._profiles.get_profile(customer, limit=limit)

    async def forget(self, customer: str, *, keep_keys: bool = False) -> bool:
        """Delete the profile (the rest cascades), results, facts and payload data keys.

        Without their data keys, the customer's payloads in Temporal cannot be read.
        """
        try:
            number = to_e164(customer)
        except InvalidAddress:
            return False
        # The tombstone first: a write already on its way then cannot bring anything back.
        await self._keys.add_tombstone(tombstones.customer_hash(number), datetime.now(UTC))
        return await self._erase(number, keep_keys=keep_keys)

    async def _erase(self, number: str, *, keep_keys: bool = True) -> bool:
        derived = await self._insights.forget(number)
        keys = False if keep_keys else await self._keys.forget(number)
        return await self._profiles.forget(number) or derived or keys

    async def delete_document(self, name: str) -> bool:
        """Remove a document and its chunks."""
        return await self._knowledge.delete_document(name)

    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count."""
        return await self._knowledge.documents()

    # --- conversation intelligence --------------------------------------------------------

    async def save_operator_results(self, results: Sequence[OperatorResult]) -> None:
        """Store results once each (see ``MemoryStore.save_operator_results``).

        Not those of a customer forgotten within the hour (``switchboard.memory.tombstones``).
        """
        quiet = {c for c in {r.customer for r in results} if await self._recently_forgotten(c)}
        kept = [r for r in results if r.customer not in quiet]
        if kept:
            await self._insights.save_operator_results(unique_results(kept))

    async def operator_results(self, conversation_id: str) -> list[OperatorResult]:
        """The results of the conversation's latest run, oldest first."""
        return await self._insights.operator_results(conversation_id)

    async def save_conversation_facts(self, facts: ConversationFacts) -> None:
        """Store a closed run's facts, one row per (conversation, run) (see the results)."""
        if not await self._recently_forgotten(facts.customer):
            await self._insights.save_conversation_facts(facts)

    async def insights(self, query: InsightsQuery) -> Insights:
        """Aggregates over the runs that started in the range (``switchboard.insights``)."""
        return compute(query, await self._insights_rows(query))

    async def _insights_rows(self, query: InsightsQuery) -> InsightsRows:
        return await self._insights.insights_rows(query)

    # --- re-analysis ----------------------------------------------------------------------

    async def count_stored_runs(self, selection: RunSelection) -> int:
        """How many stored runs ``selection`` picks (its ``limit`` applied)."""
        return await self._insights.count_stored_runs(selection)

    async def stored_runs(
        self, selection: RunSelection, after: RunCursor | None, limit: int
    ) -> list[StoredRun]:
        """A page of stored runs in (closed_at, run id) order (see ``MemoryStore``)."""
        return await self._insights.stored_runs(selection, after, limit)

    async def stored_transcripts(self, run_ids: Sequence[str]) -> dict[str, list[TranscriptLine]]:
        """The stored transcripts of ``run_ids`` (a forgotten run is absent)."""
        return await self._insights.stored_transcripts(run_ids) if run_ids else {}

    async def analysed(
        self, runs: Sequence[StoredRun], versions: dict[str, str]
    ) -> set[tuple[str, str]]:
        """The (run id, operator) pairs holding a result of the operator's given version."""
        if not runs or not versions:
            return set()
        return await self._insights.analysed(runs, versions)

    async def relabel_facts(self, run: StoredRun, labels: FactLabels) -> None:
        """Set the labels of a run's stored facts that ``labels`` holds."""
        if labels.any():
            await self._insights.relabel_facts(run, labels)

    # --- primitives (methods, so ``benchmarks/memory.py`` can time and call them) ---------

    async def _profile_parts(self, query: RecallQuery) -> ProfileParts:
        return await self._profiles.recall_parts(query)

    async def _fts_chunks(self, terms: list[str], limit: int) -> list[tuple[int, float]]:
        return await self._knowledge.fts_chunks(terms, limit)

    async def _term_count(self, term: str) -> int:
        return await self._knowledge.term_count(term)

    async def _chunks(self, ids: list[int]) -> dict[int, KnowledgeHit]:
        return await self._knowledge.chunks(ids)

    async def _knowledge_revision(self) -> str:
        return await self._knowledge.revision()

    async def _all_vectors(self) -> list[tuple[int, bytes]]:
        return await self._knowledge.all_vectors()

    async def _document_digest(self, name: str) -> tuple[str, int] | None:
        return await self._knowledge.document_digest(name)

    async def _replace_document(
        self, document: DocumentIn, digest: str, chunks: list[Chunk], vectors: list[bytes | None]
    ) -> None:
        await self._knowledge.replace_document(document, digest, chunks, vectors)

    # --- recall ---------------------------------------------------------------------------

    async def recall(self, query: RecallQuery) -> Recall:
        """The context of a turn (see ``MemoryStore.recall``)."""
        terms = text_search.search_terms(query.query)
        knowledge: list[KnowledgeHit] = []
        if terms and query.knowledge_limit > 0:  # both at once (on PostgreSQL, in parallel)
            parts, knowledge = await asyncio.gather(
                self._profile_parts(query),
                self.search_knowledge(query.query, query.knowledge_limit),
            )
        else:
            parts = await self._profile_parts(query)
        return Recall(
            customer=query.customer,
            known=parts.known,
            identifiers=parts.identifiers,
            traits=parts.traits,
            observations=text_search.most_relevant(
                parts.observations, lambda o: o.text, terms, query.observations_limit
            ),
            summaries=parts.summaries[: query.summaries_limit],
            past_lines=self._past_lines(parts.lines, terms, query.past_lines_limit),
            knowledge=knowledge,
        )

    @staticmethod
    def _past_lines(lines: list[PastLine], terms: list[str], limit: int) -> list[PastLine]:
        """Lines that bear on the message, else the customer's latest words; oldest first."""
        relevant = [line for line in lines if text_search.relevance(terms, line.text) > 0]
        customer_lines = [line for line in lines if line.role == "customer"]
        chosen = text_search.most_relevant(relevant, lambda p: p.text, terms, limit)
        for line in customer_lines:
            if len(chosen) >= limit:
                break
            if line not in chosen:
                chosen.append(line)
        return sorted(chosen, key=lambda line: line.at)

    # --- knowledge ------------------------------------------------------------------------

    async def search_knowledge(self, query: str, limit: int = 5) -> list[KnowledgeHit]:
        """Full-text ranking, fused with vector similarity when an embedder is configured."""
        terms = text_search.search_terms(query)
        # Read once per search, and only when the term counts or the vectors need it.
        revision = (
            await self._knowledge_revision()
            if len(terms) >= 2 or self._embedder is not None
            else ""
        )
        terms = await self._telling(terms, revision)
        fts = await self._fts_chunks(terms, max(limit, _FTS_CANDIDATES)) if terms else []
        nearest = await self._nearest(query, max(limit, _FTS_CANDIDATES), revision)
        if not nearest:
            hits = await self._chunks([i for i, _ in fts[:limit]])
            scores = dict(fts)
            return [
                hits[i].model_copy(update={"score": round(scores[i], 6)})
                for i, _ in fts[:limit]
                if i in hits
            ]
        fused = text_search.fuse([[str(i) for i, _ in fts], [str(i) for i in nearest]])
        best = sorted(fused.items(), key=lambda item: -item[1])[:limit]
        hits = await self._chunks([int(i) for i, _ in best])
        return [
            hits[int(i)].model_copy(update={"score": round(score, 6)})
            for i, score in best
            if int(i) in hits
        ]

    async def _telling(self, terms: list[str], revision: str) -> list[str]:
        """The terms worth searching for: those in the knowledge base, less the common ones.

        Every chunk a query matches is scored, and a word found in a large share of the
        knowledge base ("order" in a shop's help centre) multiplies that work while telling
        the passages apart hardly at all. Such words are left out when rarer ones remain.
        Counts are kept per knowledge revision, so each term is counted once.
        """
        if len(terms) < 2:
            return terms
        if revision != self._counts_revision or len(self._counts) > _COUNTS_KEPT:
            self._counts = {"": await self._term_count("")}
            self._counts_revision = revision
        for term in terms:
            if term not in self._counts:
                self._counts[term] = await self._term_count(term)
        present = [t for t in terms if self._counts[t] > 0]
        common = max(COMMON_FRACTION * self._counts[""], COMMON_MINIMUM)
        rare = [t for t in present if self._counts[t] <= common]
        return rare or present

    async def _nearest(self, query: str, limit: int, revision: str) -> list[int]:
        if self._embedder is None or not query.strip():
            return []
        try:
            [vector] = await self._embedder.embed([query])
        except Exception as exc:  # the full-text ranking still answers
            log.warning("embedding_failed", error=str(exc))
            return []
        return await self._vectors.nearest(vector, limit, revision, self._all_vectors)

    async def ingest(self, document: DocumentIn) -> IngestResult:
        """Chunk, embed (when configured) and store; an unchanged document is a no-op."""
        digest = hashlib.sha256(f"{document.content_type}\n{document.content}".encode()).hexdigest()
        # A document stored without vectors is not "unchanged" once embeddings are on.
        wanted = digest + ("+v" if self._embedder is not None else "")
        existing = await self._document_digest(document.name)
        if existing is not None and existing[0] == wanted:
            return IngestResult(document=document.name, chunks=existing[1], changed=False)
        chunks = chunk_text(document.content, document.content_type)
        vectors: list[bytes | None] = [None] * len(chunks)
        if self._embedder is not None and chunks:
            try:
                embedded = await self._embedder.embed(
                    [f"{c.section}\n{c.text}".strip() for c in chunks]
                )
                vectors = [to_bytes(v) for v in embedded]
            except Exception as exc:  # searchable by full text now; re-ingest to embed
                log.warning("embedding_failed", document=document.name, error=str(exc))
        stored = digest + ("+v" if chunks and all(vectors) else "")
        await self._replace_document(document, stored, chunks, vectors)
        return IngestResult(document=document.name, chunks=len(chunks))
