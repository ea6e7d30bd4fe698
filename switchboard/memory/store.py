"""The memory store interface, and ``open_store`` to get the backend a URL names.

Both backends implement ``MemoryStore`` with equal behaviour: profiles keyed by the
customer's E.164 number, identifiers, traits, observations, conversation summaries and
transcripts, a knowledge base with hybrid search, and conversation intelligence (operator
results and the facts of closed runs, aggregated as insights). Every write is idempotent: an
observation is named by its ``key``, a conversation by its run id, a document by its name, an
operator result by its run, operator, version and turns, a run's facts by the run.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from switchboard.contract.intelligence import (
    ConversationFacts,
    Insights,
    InsightsQuery,
    OperatorResult,
)
from switchboard.contract.reanalysis import RunCursor, RunSelection, StoredRun
from switchboard.memory.embeddings import Embedder
from switchboard.memory.models import (
    ConversationRecord,
    DocumentIn,
    FactLabels,
    IngestResult,
    KnowledgeHit,
    NewObservation,
    Profile,
    Recall,
    RecallQuery,
    StoredDataKey,
    TraitValue,
    TranscriptLine,
)


class MemoryStore(abc.ABC):
    """Customer memory and the knowledge base. Async; safe to share within a process."""

    backend: str
    """``sqlite`` or ``postgresql``."""

    @abc.abstractmethod
    async def migrate(self) -> list[int]:
        """Bring the schema up to date (safe to run from several processes). New versions."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    # --- profiles -------------------------------------------------------------------------

    @abc.abstractmethod
    async def resolve(self, address: str) -> str | None:
        """The customer (E.164) an address belongs to, if the store knows them.

        Phone numbers in any notation and ``whatsapp:`` addresses resolve by their number;
        e-mail addresses through the identifiers attached to profiles.
        """

    @abc.abstractmethod
    async def add_identifier(self, customer: str, address: str, *, at: datetime) -> bool:
        """Attach an address (phone, WhatsApp, e-mail) to a customer's profile.

        True when the address is now the customer's (or already was). False when another
        profile holds it: it stays there. An address never moves between profiles, so nobody
        takes over another customer's history by claiming their e-mail address; moving one
        would need a verification this store cannot make.
        """

    @abc.abstractmethod
    async def set_trait(
        self, customer: str, name: str, value: TraitValue, *, source: str, at: datetime
    ) -> None:
        """Set a trait; a newer value replaces an older one, an older never a newer."""

    @abc.abstractmethod
    async def add_observation(self, customer: str, observation: NewObservation) -> bool:
        """Store an observation. False when one with its key exists (a retried write)."""

    @abc.abstractmethod
    async def save_conversation(self, record: ConversationRecord) -> bool:
        """Store a closed run's summary and transcript. False when that run was stored."""

    @abc.abstractmethod
    async def get_profile(self, customer: str, *, limit: int = 50) -> Profile | None:
        """The profile with its latest ``limit`` observations and summaries; None if unknown."""

    @abc.abstractmethod
    async def forget(self, customer: str, *, keep_keys: bool = False) -> bool:
        """Delete a customer and everything derived from them. False if unknown.

        Everything includes their operator results and conversation facts (a customer known
        only through those is known: True), and their payload data keys: every Temporal
        payload encrypted for them becomes unreadable (``switchboard.runtime.data_keys``) —
        unless ``keep_keys`` (a run of theirs is still open and needs them).
        """

    @abc.abstractmethod
    async def recall(self, query: RecallQuery) -> Recall:
        """A turn's context: traits, relevant observations, summaries, past lines, knowledge."""

    # --- knowledge ------------------------------------------------------------------------

    @abc.abstractmethod
    async def ingest(self, document: DocumentIn) -> IngestResult:
        """Chunk and index a document, replacing the one with its name (unchanged: a no-op)."""

    @abc.abstractmethod
    async def delete_document(self, name: str) -> bool:
        """Remove a document and its chunks. False if there is none by that name."""

    @abc.abstractmethod
    async def search_knowledge(self, query: str, limit: int = 5) -> list[KnowledgeHit]:
        """The best chunks for a query: full-text ranking, fused with vectors when configured."""

    @abc.abstractmethod
    async def documents(self) -> Sequence[tuple[str, int]]:
        """Every document's name and chunk count, by name."""

    # --- conversation intelligence --------------------------------------------------------

    @abc.abstractmethod
    async def save_operator_results(self, results: Sequence[OperatorResult]) -> None:
        """Store results once each under (conversation, run, operator, version, turns).

        Saving one again (an activity retried after a crash) overwrites its row: never a
        second row. Within ``results`` the last of a key wins.
        """

    @abc.abstractmethod
    async def operator_results(self, conversation_id: str) -> list[OperatorResult]:
        """The results of the conversation's latest run, oldest first ([] if none).

        The latest run is the one whose first result (reanalyses aside) is the newest.
        """

    @abc.abstractmethod
    async def save_conversation_facts(self, facts: ConversationFacts) -> None:
        """Store a closed run's facts, one row per (conversation, run): saved again, replaced.

        Also keeps the repeat-contact flags right (this run's, and that of the customer's run
        before it), whatever order runs are saved in; a run saved again keeps its start time.
        """

    @abc.abstractmethod
    async def insights(self, query: InsightsQuery) -> Insights:
        """Aggregates over the runs that started in the range (``switchboard.insights``)."""

    # --- re-analysis ----------------------------------------------------------------------

    @abc.abstractmethod
    async def count_stored_runs(self, selection: RunSelection) -> int:
        """How many stored runs ``selection`` picks (its ``limit`` applied)."""

    @abc.abstractmethod
    async def stored_runs(
        self, selection: RunSelection, after: RunCursor | None, limit: int
    ) -> list[StoredRun]:
        """Up to ``limit`` stored runs of ``selection`` after ``after``, by (closed_at, run id).

        ``selection.limit`` is not applied here: the caller counts what it has read.
        """

    @abc.abstractmethod
    async def stored_transcripts(self, run_ids: Sequence[str]) -> dict[str, list[TranscriptLine]]:
        """The stored transcripts of ``run_ids``, in order (a forgotten run is absent)."""

    @abc.abstractmethod
    async def analysed(
        self, runs: Sequence[StoredRun], versions: dict[str, str]
    ) -> set[tuple[str, str]]:
        """The (run id, operator) pairs that hold a result of the operator's given version."""

    # --- request keys: processed webhook ids, Idempotency-Keys ---------------------------

    @abc.abstractmethod
    async def claim_request_key(
        self, scope: str, key: str, digest: str, *, now: datetime, expires_at: datetime
    ) -> str | None:
        """Record (scope, key) with the request's digest until ``expires_at``.

        Answers None when this call recorded it (the request is new), else the digest of the
        live record (a repeat: the same request when the digests are equal). Every gateway
        host shares the store, so a key claimed on one is seen on all.
        """

    @abc.abstractmethod
    async def release_request_key(self, scope: str, key: str) -> None:
        """Forget a claim whose request was not carried out, so it may be tried again."""

    @abc.abstractmethod
    async def request_key_seen(self, scope: str, key: str, *, now: datetime) -> bool:
        """Whether a live record of (scope, key) exists."""

    # --- payload data keys (switchboard.runtime.data_keys) ---------------------------------

    @abc.abstractmethod
    async def latest_data_key(self, scope: str) -> StoredDataKey | None:
        """The newest payload data key of ``scope`` (an E.164 number, or ``shared``).

        ``forget`` deletes a customer's keys.
        """

    @abc.abstractmethod
    async def data_key(self, key_id: str) -> StoredDataKey | None:
        """The payload data key with this id (None once its customer was forgotten)."""

    @abc.abstractmethod
    async def add_data_key(self, key: StoredDataKey) -> None:
        """Store a new payload data key (wrapped by a master key)."""

    @abc.abstractmethod
    async def relabel_facts(self, run: StoredRun, labels: FactLabels) -> None:
        """Set the labels of a run's stored facts that ``labels`` holds (others unchanged)."""


def open_store(url: str, *, embedder: Embedder | None = None) -> MemoryStore:
    """The backend for a ``MEMORY_DATABASE_URL`` (not yet migrated: call ``migrate()``).

    Raises:
        ValueError: neither ``sqlite:///…`` nor ``postgresql://…``.
    """
    if url.startswith("sqlite:///"):
        from switchboard.memory.sqlite import SqliteStore

        return SqliteStore(url, embedder=embedder)
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from switchboard.memory.postgres import PostgresStore

        return PostgresStore(url, embedder=embedder)
    raise ValueError(f"MEMORY_DATABASE_URL must be sqlite:///… or postgresql://…, got {url!r}")
