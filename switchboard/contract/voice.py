"""Voice boundary models: what the gateway and ``ConversationWorkflow`` tell each other.

A call is a *voice leg* of the customer's conversation. The gateway holds the
ConversationRelay socket; the workflow decides every turn:

1. ``setup`` → signal ``voice_call_started`` (signal-with-start): the leg is attached and the
   workflow watches it through an activity on the gateway's own task queue.
2. ``prompt`` (``last: true``) → update ``voice_prompt``: the workflow records what the caller
   said and answers with the turn's plan (the messages to send to the model, the tools).
3. The gateway streams the model's tokens straight into the socket (never through history)
   and reports the outcome with update ``voice_reply``; the answer says which call actions
   (digits, language, end) the workflow approved.
4. ``interrupt`` after the reply was reported → signal ``voice_interrupted``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from switchboard.contract.llm import ChatMessage, ToolCall


class VoiceLeg(BaseModel):
    """A live ConversationRelay session attached to a conversation."""

    call_sid: str
    session_id: str
    customer: str = Field(description="E.164 number of the caller (callee on outbound calls)")
    business_number: str = Field(description="our number on this call")
    gateway_queue: str = Field(description="task queue of the gateway holding the socket")
    direction: str = "inbound"
    started_at: datetime


class LegEndReason(StrEnum):
    """How a call leg ended."""

    HANGUP = "hangup"  # the socket closed normally (caller hung up, or we sent ``end``)
    DROPPED = "dropped"  # the socket broke without a close handshake
    LOST = "lost"  # the gateway stopped answering (heartbeat timeout)
    UNKNOWN = "unknown"  # the gateway no longer knows the session


class VoiceLegEnd(BaseModel):
    """Result of the leg watcher."""

    call_sid: str
    reason: LegEndReason


class PromptKind(StrEnum):
    """What the caller did."""

    SPEECH = "speech"
    DTMF = "dtmf"


class VoicePrompt(BaseModel):
    """A finished caller utterance (``prompt`` with ``last: true``) or keypad input."""

    call_sid: str
    text: str
    kind: PromptKind = PromptKind.SPEECH
    lang: str | None = None
    received_at: datetime


def spoken_text(prompt: VoicePrompt) -> str:
    """How a prompt appears in the transcript and to the model."""
    return prompt.text if prompt.kind is PromptKind.SPEECH else f"[keypad: {prompt.text}]"


class VoiceTurnPlan(BaseModel):
    """The workflow's answer to a prompt: what the model gets for this turn.

    ``respond`` is False when the model must not answer (for example while a human has the
    conversation); the gateway then stays silent.
    """

    turn: int
    respond: bool = True
    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list, description="names of the tools offered")
    decided_at: datetime | None = Field(default=None, description="workflow time of the decision")
    context: str = Field(default="", description="the customer's recalled memory, for the system")


class VoiceOutcome(BaseModel):
    """What happened to a turn's generation on the call.

    ``interrupted`` with ``heard``: the caller barged in while the reply was still streaming
    and heard only ``heard``; tool calls are then empty (the discarded part never runs).
    """

    call_sid: str
    turn: int
    text: str
    interrupted: bool = False
    heard: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    failed: bool = False
    tokens: int = Field(
        default=0,
        description="the model's usage, prompt and completion; 0 when the stream was cut "
        "before its last chunk (an interruption) or the model reports none",
    )


class VoiceAction(BaseModel):
    """Something the gateway does on the call after the reply: digits, language, say, end."""

    kind: Literal["send_digits", "language", "end", "say"]
    digits: str | None = None
    text: str | None = Field(default=None, description="say: words the workflow speaks itself")
    language: str | None = None
    handoff_data: str | None = None
    reason: str | None = None


class VoiceFollowUp(BaseModel):
    """The workflow's answer to a turn's outcome.

    ``next`` is set when the model called tools that the workflow ran (knowledge, memory,
    callbacks, the agent's own tools): the gateway generates again with their results and
    reports that outcome too.
    """

    actions: list[VoiceAction] = Field(default_factory=list)
    next: VoiceTurnPlan | None = None


class VoiceInterrupt(BaseModel):
    """The caller interrupted playback of a reply that was already reported."""

    call_sid: str
    turn: int
    heard: str
    duration_ms: int | None = None


class VoiceActionsRequest(BaseModel):
    """Input of ``perform_voice_actions``."""

    call_sid: str
    actions: list[VoiceAction]
