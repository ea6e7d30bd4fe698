"""Typed records of the memory store: what goes in, what comes out, and the recall result."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from switchboard.contract.addresses import Channel

TraitValue = str | int | float | bool | list[str]
"""A trait's typed value (Twilio Memory's STRING, NUMBER, BOOLEAN and ARRAY)."""


class Trait(BaseModel):
    """A key/value fact about a customer, with where and when it came from."""

    name: str
    value: TraitValue
    source: str
    at: datetime


class Observation(BaseModel):
    """A fact learned in conversation (``remember``), with its source and conversations."""

    text: str
    source: str
    at: datetime
    conversation_ids: list[str] = Field(default_factory=list)


class NewObservation(Observation):
    """An observation to write. ``key`` names it uniquely, so a retried write is a no-op."""

    key: str


class Summary(BaseModel):
    """What a closed conversation was about."""

    text: str
    conversation_id: str
    at: datetime
    source: str = "summary"
    run_id: str = Field(default="", description="the conversation run it summarises")


class TranscriptLine(BaseModel):
    """One line of a stored conversation transcript."""

    role: str
    text: str
    channel: Channel
    at: datetime


class FactLabels(BaseModel):
    """Labels of a run's facts that a re-analysis found (None: leave the stored one)."""

    sentiment: str | None = None
    topic: str | None = None
    outcome: str | None = None
    resolved: bool | None = None

    def any(self) -> bool:
        """Whether there is anything to set."""
        return any(v is not None for v in self.model_dump().values())


class ConversationRecord(BaseModel):
    """A closed conversation run: its summary and transcript, written once per run."""

    customer: str
    conversation_id: str
    run_id: str
    closed_at: datetime
    summary: Summary | None = None
    transcript: list[TranscriptLine] = Field(default_factory=list)
    identifiers: list[str] = Field(
        default_factory=list, description="the addresses the customer used in this run"
    )


class Profile(BaseModel):
    """Everything the store knows about one customer (the operator API's profile)."""

    customer: str = Field(description="the customer's E.164 number")
    identifiers: list[str] = Field(description="addresses: +E.164, whatsapp:+E.164, e-mail")
    traits: dict[str, TraitValue] = Field(default_factory=dict)
    trait_details: list[Trait] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)
    summaries: list[Summary] = Field(default_factory=list)
    created_at: datetime | None = None


class DocumentIn(BaseModel):
    """A knowledge document to ingest (replaces the one with the same name)."""

    name: str = Field(min_length=1, max_length=300)
    content: str
    content_type: Literal["text/markdown", "text/plain", "text/html"] = "text/markdown"


class IngestResult(BaseModel):
    """What an ingest did: the document's name, its chunk count, and whether it changed."""

    document: str
    chunks: int
    changed: bool = True


class KnowledgeHit(BaseModel):
    """A knowledge chunk that matched a search, with its source for citing."""

    document: str
    section: str = ""
    text: str
    score: float


class PastLine(BaseModel):
    """A line from an earlier conversation that bears on the current message."""

    conversation_id: str
    role: str
    text: str
    channel: Channel
    at: datetime


class RecallQuery(BaseModel):
    """What to recall for a turn: whose memory, and the message it is for."""

    customer: str
    query: str = ""
    observations_limit: int = 10
    summaries_limit: int = 3
    past_lines_limit: int = 6
    knowledge_limit: int = 3
    exclude_run_id: str | None = Field(
        default=None, description="the current run, whose lines are already in the history"
    )


class Recall(BaseModel):
    """The enriched context of a turn, before it is formatted for the model."""

    customer: str
    known: bool = Field(default=False, description="the store has a profile for this customer")
    identifiers: list[str] = Field(default_factory=list)
    traits: list[Trait] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)
    summaries: list[Summary] = Field(default_factory=list)
    past_lines: list[PastLine] = Field(default_factory=list)
    knowledge: list[KnowledgeHit] = Field(default_factory=list)


# --- between the conversation workflow and its memory activities ----------------------------


class RecallRequest(BaseModel):
    """Recall for a turn of a conversation (``query`` is what the customer just said)."""

    customer: str
    query: str = ""


class RecallResult(BaseModel):
    """The formatted context (``switchboard.memory.context``), ready for the system message."""

    context: str
    known: bool


class RememberRequest(BaseModel):
    """A ``remember`` tool call, validated, with where it came from."""

    customer: str
    conversation_id: str
    fact: str
    trait: str | None = None
    value: str | None = None
    at: datetime


class KnowledgeSearchRequest(BaseModel):
    """A ``search_knowledge`` tool call."""

    query: str
    limit: int = 4


class CloseRecordRequest(BaseModel):
    """A closing run's transcript, to summarise and store."""

    customer: str
    conversation_id: str
    run_id: str
    closed_at: datetime
    transcript: list[TranscriptLine]
    identifiers: list[str] = Field(default_factory=list)
    traits: dict[str, str] = Field(
        default_factory=dict, description="traits learned from the channel (WhatsApp name)"
    )
    redact_pii: bool = Field(
        default=False, description="the pii operator is on: personal data is redacted first"
    )


class StoredDataKey(BaseModel):
    """A payload data key as stored: wrapped by a master key, never in the clear.

    ``scope`` is the customer's E.164 number, or ``shared`` for workflows that name no
    customer; forgetting the customer deletes their rows, and with them every payload the
    keys encrypted becomes unreadable (``switchboard.runtime.data_keys``).
    """

    key_id: str
    scope: str
    master_key_id: str
    wrapped: bytes
    created_at: datetime
