"""Re-analysis across process boundaries: run operators again over stored conversations.

A supervisor adds or changes an operator (a changed definition is a new version) and wants
its results for the conversations that closed before. ``ReanalysisWorkflow`` pages through
the stored runs (``StoredRun``) that a ``RunSelection`` picks, hands them in batches to the
``reanalyze_batch`` activity with bounded concurrency, and answers its progress
(``ReanalysisProgress``) to a query, the operator API and the CLI.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, computed_field

MAX_OPERATORS = 20
"""Operators one re-analysis may run."""
MAX_CONCURRENCY = 32
"""Batches in flight at once, at most."""
MAX_BATCH = 200
"""Conversations per batch activity, at most."""
MAX_PAGE = 10_000
"""Stored runs one page may hold."""


class RunSelection(BaseModel):
    """Which stored conversation runs to analyse again: closed in ``[start, end)``, oldest first.

    Every bound is optional: with none, every stored run.
    """

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="forbid"
    )

    start: datetime | None = Field(default=None, alias="from")
    end: datetime | None = Field(default=None, alias="to")
    customer: str | None = Field(default=None, max_length=64, description="E.164")
    limit: int | None = Field(default=None, ge=1, le=10_000_000)


class RunCursor(BaseModel):
    """Where a page of stored runs ends: the next page starts after it (keyset order)."""

    closed_at: datetime
    run_id: str


class StoredRun(BaseModel):
    """A closed conversation run whose transcript the store keeps."""

    conversation_id: str
    run_id: str
    customer: str
    closed_at: datetime

    @property
    def cursor(self) -> RunCursor:
        """The cursor just after this run."""
        return RunCursor(closed_at=self.closed_at, run_id=self.run_id)


class ReanalysisRequest(RunSelection):
    """``POST /api/intelligence/reanalyses``: which operators over which conversations.

    A run that already holds a result of an operator's current version is skipped (so a
    re-analysis started again after a cancel resumes where it stopped) unless ``force``.
    """

    operators: list[str] = Field(min_length=1, max_length=MAX_OPERATORS)
    concurrency: int = Field(default=4, ge=1, le=MAX_CONCURRENCY)
    batch: int = Field(default=25, ge=1, le=MAX_BATCH)
    force: bool = False

    def selection(self) -> RunSelection:
        """The runs this request covers."""
        return RunSelection(
            start=self.start, end=self.end, customer=self.customer, limit=self.limit
        )


class RunPageRequest(BaseModel):
    """Input of ``list_stored_runs``: the next page of a selection."""

    selection: RunSelection
    after: RunCursor | None = None
    limit: int = Field(ge=1, le=MAX_PAGE)


class ReanalysisBatch(BaseModel):
    """Input of ``reanalyze_batch``: some stored runs and the operators to run over each."""

    reanalysis_id: str
    runs: list[StoredRun]
    operators: list[str]
    force: bool = False


class BatchOutcome(BaseModel):
    """What ``reanalyze_batch`` did: conversations analysed or skipped, results stored."""

    analysed: int = 0
    skipped: int = Field(default=0, description="already held every operator's current version")
    missing: int = Field(default=0, description="no stored transcript (forgotten since)")
    results: int = 0
    failed: int = Field(default=0, description="results that are errors")
    unknown_operators: list[str] = Field(default_factory=list)


class ReanalysisStatus(StrEnum):
    """Where a re-analysis is."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ReanalysisProgress(BaseModel):
    """How far a re-analysis is (the ``progress`` query; ``GET …/reanalyses/{id}``)."""

    id: str
    status: ReanalysisStatus = ReanalysisStatus.RUNNING
    operators: list[str]
    total: int | None = Field(default=None, description="runs selected (None: still counting)")
    done: int = Field(default=0, description="runs handled: analysed, skipped or missing")
    analysed: int = 0
    skipped: int = 0
    missing: int = 0
    results: int = 0
    failed: int = 0
    unknown_operators: list[str] = Field(default_factory=list)
    started_at: datetime
    updated_at: datetime
    cursor: RunCursor | None = Field(default=None, description="the last run handled, in order")

    def add(self, outcome: BatchOutcome, runs: int) -> None:
        """Count a finished batch of ``runs`` runs."""
        self.done += runs
        self.analysed += outcome.analysed
        self.skipped += outcome.skipped
        self.missing += outcome.missing
        self.results += outcome.results
        self.failed += outcome.failed
        for name in outcome.unknown_operators:
            if name not in self.unknown_operators:
                self.unknown_operators.append(name)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float:
        """Runs handled per second so far."""
        seconds = (self.updated_at - self.started_at).total_seconds()
        return self.done / seconds if seconds > 0 else 0.0


class ReanalysisInput(BaseModel):
    """``ReanalysisWorkflow``'s input: the request, and its progress across continue-as-new."""

    request: ReanalysisRequest
    progress: ReanalysisProgress | None = None
