"""The conversation's own models: what it is told, what it keeps, what it shows.

Every workflow input, signal, query result and activity input/output is a pydantic model,
serialised by Temporal's pydantic data converter. Fields are only ever added with defaults,
so running conversations keep replaying after an upgrade.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from switchboard.contract.addresses import Channel
from switchboard.contract.handoff import HandoffState
from switchboard.contract.intelligence import IntelligencePolicy
from switchboard.contract.outbound import ScheduledCallback
from switchboard.contract.tools import ToolPolicy


class Role(StrEnum):
    """Who said a transcript line."""

    CUSTOMER = "customer"
    ASSISTANT = "assistant"
    AGENT = "agent"
    SYSTEM = "system"


class ConversationStatus(StrEnum):
    """The ``ConversationStatus`` search attribute values."""

    AI = "ai"
    HANDOFF_PENDING = "handoff_pending"
    HUMAN = "human"
    CLOSED = "closed"


class OptOut(StrEnum):
    """Twilio Advanced Opt-Out keywords (``OptOutType``)."""

    STOP = "STOP"
    START = "START"
    HELP = "HELP"


class TranscriptEntry(BaseModel):
    """One line of a conversation as the agent and operators see it."""

    role: Role
    text: str
    channel: Channel
    at: datetime
    message_sid: str | None = None
    delivery_status: str | None = None
    turn: int | None = None
    interrupted: bool = Field(
        default=False, description="a spoken reply the caller cut short; text is what they heard"
    )


class InboundMessage(BaseModel):
    """A customer's SMS or WhatsApp message, as delivered to the conversation workflow."""

    message_sid: str
    customer: str = Field(description="E.164 number of the customer")
    channel: Channel
    from_address: str
    to_address: str = Field(description="the business address the customer wrote to")
    body: str
    media_urls: list[str] = Field(default_factory=list)
    profile_name: str | None = None
    opt_out: OptOut | None = None
    received_at: datetime


class DeliveryStatusUpdate(BaseModel):
    """A Twilio status callback for a message we sent."""

    message_sid: str
    status: str
    error_code: int | None = None
    at: datetime


class CloseRequest(BaseModel):
    """Ask a conversation to close now."""

    reason: str = "closed by request"


class DeliveryFailure(BaseModel):
    """A reply Twilio refused for good (opted out, invalid number, WhatsApp window)."""

    turn: int
    channel: Channel
    error_code: int | None
    error_type: str
    message: str
    at: datetime


DROPPED_CALL_FOLLOWUP = (
    "Sorry, it looks like our call got cut off. Reply here and we'll pick up where we left off."
)
"""The default text to a caller whose call leg was lost (``VOICE_DROP_FOLLOWUP_TEXT``)."""

HANDOFF_MESSAGE = "I'm connecting you with a member of our team. They'll be with you shortly."
"""What the customer is told when handed to a human (the model's own words win)."""
HANDOFF_TIMEOUT_MESSAGE = (
    "Sorry, no one from our team is free right now. Would you like us to call you back? "
    "Tell me a time that suits you."
)
"""What the customer is told when no human took the conversation in time."""
RATE_LIMIT_MESSAGE = "You're sending messages faster than we can answer; we'll get to them shortly."
"""What a customer writing faster than ``CUSTOMER_RATE_LIMIT`` is told (once a minute at most)."""


class ConversationConfig(BaseModel):
    """Behaviour settings a conversation run carries (from the process that started it)."""

    idle_timeout_seconds: float = 3600.0
    batch_window_seconds: float = 1.5
    batch_window_cap_seconds: float = 8.0
    max_transcript_entries: int = 200
    max_seen_message_sids: int = 500
    max_history_events: int | None = None
    local_activities: bool = True
    voice_drop_followup: bool = True
    voice_drop_followup_text: str = DROPPED_CALL_FOLLOWUP
    tools: list[ToolPolicy] = Field(default_factory=list, description="the agent's own tools")
    mcp: bool = Field(
        default=False,
        description="the agent has MCP servers: each turn asks the worker which of their "
        "tools it can run (mcp_tools) and offers those",
    )
    max_tool_rounds: int = 3
    handoff_timeout_seconds: float = 300.0
    callback_number: str | None = Field(
        default=None, description="TWILIO_PHONE_NUMBER: the caller id of callbacks and outbound"
    )
    whatsapp_number: str | None = None
    handoff_message: str = HANDOFF_MESSAGE
    handoff_timeout_message: str = HANDOFF_TIMEOUT_MESSAGE
    notify_human_side: bool = Field(
        default=False, description="HANDOFF_WEBHOOK_URL is set: customer messages go there"
    )
    intelligence: IntelligencePolicy = Field(
        default_factory=IntelligencePolicy, description="the operators this run asks for"
    )
    history_tokens: int = Field(
        default=6000, description="LLM_HISTORY_TOKENS: the model sees the newest lines that fit"
    )
    run_transcript_lines: int = Field(
        default=200,
        description="a run continues as new once its transcript is this much longer than "
        "max_transcript_entries (what a run carries)",
    )
    rate_per_minute: float = Field(
        default=20.0, description="CUSTOMER_RATE_LIMIT: texts a minute answered one by one; 0: off"
    )
    rate_burst: int = Field(default=10, description="CUSTOMER_RATE_BURST: texts at once")
    rate_limit_message: str = RATE_LIMIT_MESSAGE


class RateBucket(BaseModel):
    """The customer's token bucket (``CUSTOMER_RATE_LIMIT``): one token per text answered."""

    tokens: float | None = Field(default=None, description="None: full (the burst)")
    at: datetime | None = Field(default=None, description="when ``tokens`` was last counted")
    held: bool = Field(
        default=False, description="pending texts came over the limit: the next turn waits"
    )
    notice_at: datetime | None = Field(default=None, description="the latest slow-down notice")
    notices: int = Field(default=0, description="slow-down notices sent (their send keys)")


TOOL_LOG_ENTRIES = 20
"""Tool calls a conversation keeps for operators (the newest): it rides in every snapshot,
query and continue-as-new, so it stays small (~15 KB at most)."""
TOOL_LOG_CHARS = 300
"""A recorded tool call's arguments and result are cut to this length."""


class ToolCallRecord(BaseModel):
    """One tool call the model made and what it got back, as operators see it.

    Arguments and result are cut to ``TOOL_LOG_CHARS``: the record is for reading, the
    model's own exchange keeps them whole.
    """

    name: str
    arguments: str = Field(default="", description="the call's JSON arguments, cut")
    result: str = Field(default="", description="what the model was told, cut")
    ok: bool = Field(default=True, description="False when the result is an error")
    turn: int = Field(default=0, description="the conversation's turn the call was made in")
    at: datetime


class ConversationState(BaseModel):
    """Everything a conversation knows; carried whole through continue-as-new."""

    customer: str
    status: ConversationStatus = ConversationStatus.AI
    channels: list[Channel] = Field(default_factory=list)
    active_channel: Channel | None = None
    business_addresses: dict[Channel, str] = Field(default_factory=dict)
    transcript: list[TranscriptEntry] = Field(default_factory=list)
    pending: list[InboundMessage] = Field(default_factory=list)
    seen_message_sids: list[str] = Field(default_factory=list)
    turn: int = 0
    opted_out: bool = False
    delivery_failures: list[DeliveryFailure] = Field(default_factory=list)
    last_activity: datetime | None = None
    started_at: datetime | None = None
    runs: int = 1
    memory: str = Field(default="", description="the recall context the model sees")
    memory_at: datetime | None = None
    profile_name: str | None = Field(default=None, description="the WhatsApp profile name")
    forgotten_at: datetime | None = Field(
        default=None, description="when the customer was forgotten: memory keeps only what follows"
    )
    handoff: HandoffState | None = None
    handoffs: int = 0
    agent_messages: int = 0
    callbacks: list[ScheduledCallback] = Field(default_factory=list)
    callbacks_made: int = 0
    outbound_ids: list[str] = Field(default_factory=list)
    purpose: str | None = Field(default=None, description="why we started this conversation")
    customer_turns: int = Field(default=0, description="customer turns answered (text and voice)")
    handoff_reasons: list[str] = Field(default_factory=list)
    tool_calls: int = 0
    tool_failures: int = 0
    tool_log: list[ToolCallRecord] = Field(
        default_factory=list, description=f"the newest {TOOL_LOG_ENTRIES} tool calls"
    )
    do_not_contact: bool = Field(
        default=False, description="the customer asked never to be contacted: no outbound"
    )
    rules_fired: dict[str, int] = Field(
        default_factory=dict,
        description="intelligence rules that fired: the customer turn each last fired on",
    )
    tags: list[str] = Field(default_factory=list, description="labels rules gave the conversation")
    model_tokens: int = Field(
        default=0,
        description="tokens of the conversation's own model calls: replies (text and voice), "
        "openings, handoff summaries; operators count theirs in their results",
    )
    rate: RateBucket = Field(default_factory=RateBucket, description="the customer's rate")


class ConversationInput(BaseModel):
    """The argument of ``ConversationWorkflow.run``."""

    customer: str
    config: ConversationConfig = Field(default_factory=ConversationConfig)
    state: ConversationState | None = None


class ConversationView(BaseModel):
    """What the ``describe`` query answers: status, channels and the transcript."""

    id: str
    customer: str
    status: ConversationStatus
    channels: list[Channel]
    active_channel: Channel | None
    turn: int
    opted_out: bool
    last_activity: datetime | None
    transcript: list[TranscriptEntry]
    delivery_failures: list[DeliveryFailure]
    handoff: HandoffState | None = None
    callbacks: list[ScheduledCallback] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="labels rules gave it")
    tool_calls: list[ToolCallRecord] = Field(
        default_factory=list, description=f"the newest {TOOL_LOG_ENTRIES} tool calls, oldest first"
    )
    handoff_reasons: list[str] = Field(
        default_factory=list, description="why each handoff was asked for, oldest first"
    )
    profile_name: str | None = Field(default=None, description="the WhatsApp profile name")
