"""Conversation intelligence across process boundaries: what operators read and what they give.

The conversation workflow asks for an analysis (``AnalysisRequest``) on a customer turn or at
close; the ``analyze_conversation`` activity, on the intelligence task queue, runs the
operators that fire, stores each result once and answers them (``AnalysisOutcome``); the
workflow then applies its rules: the default ones (hand off, tag the conversation,
do-not-contact) and those of ``IntelligencePolicy.rules`` (``switchboard.contract.rules``).
Result shapes of the built-in operators are in CONTRACT.md, "Conversation intelligence".
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from switchboard.contract.addresses import Channel
from switchboard.contract.rules import MAX_RULES, IntelligenceRule

DO_NOT_CONTACT_TRAIT = "do_not_contact"
"""The profile trait a ``do_not_contact`` match sets; outbound requests are then refused."""


class OperatorTrigger(StrEnum):
    """When an operator runs."""

    TURN = "turn"
    """Every N customer turns, in real time, beside the reply."""
    CLOSE = "close"
    """When the conversation ends (closed or idle)."""
    REANALYSIS = "reanalysis"
    """Over a stored conversation, later (a new or changed operator)."""


class AnalysisLine(BaseModel):
    """One transcript line as operators read it (system notes left out)."""

    index: int = Field(description="position in the run's transcript: evidence points here")
    role: str
    text: str
    channel: Channel
    at: datetime


class ConversationFacts(BaseModel):
    """What one closed conversation run was, recorded once at close for insights.

    The workflow measures these from its own state; the labels come from the close
    analysis (None when intelligence is off or the operator failed).
    """

    conversation_id: str
    run_id: str
    customer: str
    channels: list[Channel]
    started_at: datetime
    closed_at: datetime
    customer_turns: int = 0
    assistant_turns: int = 0
    handle_seconds: float = Field(
        default=0.0,
        description="voice: call time; messaging: the gaps between messages under the idle timeout",
    )
    first_response_ms: float | None = Field(
        default=None, description="the first customer message to the first reply"
    )
    handoffs: int = 0
    handoff_reasons: list[str] = Field(default_factory=list)
    tool_calls: int = 0
    tool_failures: int = 0
    callbacks: int = 0
    interruptions: int = 0
    voice_replies: int = 0
    delivery_failures: int = 0
    opted_out: bool = False
    tokens: int = 0
    outcome: str | None = None
    resolved: bool | None = None
    sentiment: str | None = None
    topic: str | None = None


class AnalysisRequest(BaseModel):
    """Input of ``analyze_conversation``: a conversation run's transcript and what to run."""

    conversation_id: str
    run_id: str
    customer: str
    trigger: OperatorTrigger
    turns: tuple[int, int] = Field(description="the first and last customer turn covered")
    transcript: list[AnalysisLine]
    operators: list[str] = Field(description="the operators to run, by name")
    facts: ConversationFacts | None = Field(
        default=None, description="at close: the run's facts, stored with the labels found"
    )
    rules: list[IntelligenceRule] = Field(
        default_factory=list,
        max_length=MAX_RULES,
        description="the rules with a do_not_contact action: where one matches a result, the "
        "activity writes the trait, as for a do_not_contact match",
    )


class Evidence(BaseModel):
    """Where in the transcript a result comes from."""

    index: int
    quote: str


class OperatorResult(BaseModel):
    """One operator's result over one stretch of one conversation run, stored once.

    Stored under (conversation, run, operator, version, turns): an activity retried after a
    crash writes the same row again, never a second one. A failed operator is a result too,
    with ``error`` set and an empty ``result``.
    """

    conversation_id: str
    run_id: str
    customer: str
    operator: str
    version: str
    trigger: OperatorTrigger
    turns: tuple[int, int]
    result: dict[str, JsonValue] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)
    at: datetime
    model: str | None = Field(default=None, description="None: an offline deterministic run")
    latency_ms: float = 0.0
    tokens: int = 0
    error: str | None = None


class AnalysisOutcome(BaseModel):
    """What ``analyze_conversation`` answers: the results it stored, in operator order."""

    results: list[OperatorResult] = Field(default_factory=list)

    def of(self, operator: str) -> OperatorResult | None:
        """The successful result of ``operator``, if it ran and succeeded."""
        return next((r for r in self.results if r.operator == operator and r.error is None), None)


class OperatorPolicy(BaseModel):
    """When the workflow asks for one operator (from its declaration, like ``ToolPolicy``)."""

    name: str
    on_turn: bool = False
    every: int = Field(default=1, ge=1, description="every N customer turns")
    on_close: bool = False


class IntelligencePolicy(BaseModel):
    """What a conversation run analyses; carried in its ``ConversationConfig``."""

    enabled: bool = False
    operators: list[OperatorPolicy] = Field(default_factory=list)
    task_queue: str = "intelligence"
    escalate_on: str | None = Field(
        default="high",
        description="an escalation level that hands the conversation to a human (None: never)",
    )
    rules: list[IntelligenceRule] = Field(
        default_factory=list,
        max_length=MAX_RULES,
        description="rules of your own (switchboard.contract.rules), beside the default ones",
    )

    def due_on_turn(self, turn: int) -> list[str]:
        """The operators that run after customer turn ``turn``."""
        return [p.name for p in self.operators if p.on_turn and turn % p.every == 0]

    def due_on_close(self) -> list[str]:
        """The operators that run when the conversation closes."""
        return [p.name for p in self.operators if p.on_close]


class IntelligenceView(BaseModel):
    """``GET /api/conversations/{id}/intelligence``: the latest run's results, oldest first."""

    conversation_id: str
    results: list[OperatorResult]


class InsightsQuery(BaseModel):
    """``GET /api/insights``: conversations that started in ``[start, end)``."""

    start: datetime
    end: datetime
    channel: Channel | None = None
    interval: str = Field(default="day", pattern="^(day|week)$")
    price_per_1k_tokens: float | None = Field(
        default=None, ge=0, description="LLM_PRICE_PER_1K_TOKENS: costs are reported when set"
    )


class Percentiles(BaseModel):
    """Two percentiles of a measure (None: nothing was measured)."""

    p50: float | None = None
    p95: float | None = None


class InsightsMetrics(BaseModel):
    """The aggregates over a set of closed conversation runs (see ``switchboard.insights``).

    Rates are fractions in [0, 1], 0 when their denominator is 0.
    """

    conversations: int = 0
    containment_rate: float = 0.0
    handoff_rate: float = 0.0
    handoff_reasons: dict[str, int] = Field(default_factory=dict)
    resolution_rate: float = 0.0
    abandonment_rate: float = 0.0
    repeat_contact_rate: float = 0.0
    average_handle_seconds: float = 0.0
    first_response_ms: Percentiles = Field(default_factory=Percentiles)
    interruption_rate: float = 0.0
    sentiment: dict[str, int] = Field(default_factory=dict)
    topics: dict[str, int] = Field(default_factory=dict)
    tool_success_rate: float = 0.0
    tokens_per_resolved: float = 0.0
    cost: float | None = Field(
        default=None, description="tokens * LLM_PRICE_PER_1K_TOKENS / 1000 (None: no price set)"
    )
    cost_per_resolved: float | None = None
    engaged: int = Field(default=0, description="with at least one customer turn")
    contained: int = 0
    handed_off: int = 0
    resolved: int = 0
    abandoned: int = 0
    callbacks: int = 0
    delivery_failures: int = 0
    opted_out: int = 0
    tokens: int = 0


class InsightsBucket(InsightsMetrics):
    """One step of the series: conversations that started in ``[start, next start)``."""

    start: datetime


class Insights(BaseModel):
    """``GET /api/insights``: totals over ``[from, to)`` and a series by day or week (UTC)."""

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    channel: Channel | None = None
    interval: str = "day"
    totals: InsightsMetrics
    series: list[InsightsBucket]
