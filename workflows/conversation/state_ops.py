"""Pure operations on ``ConversationState``: deterministic, no I/O, easy to unit test."""

from __future__ import annotations

import re
from datetime import datetime

from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import (
    ConversationConfig,
    ConversationState,
    DeliveryStatusUpdate,
    InboundMessage,
    OptOut,
    Role,
    TranscriptEntry,
)
from switchboard.contract.llm import ChatMessage
from workflows.conversation import budget

_Line = tuple[ChatMessage, int]
"""A transcript line as the model sees it, and its estimated tokens."""

# Later statuses win; a callback that arrives out of order never moves a message backwards.
_STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "undelivered": 6,
    "failed": 6,
    "canceled": 6,
}


# Replies the customer never received stay in the transcript but not in the model's history.
_UNSEEN = frozenset({"failed", "undelivered", "canceled"})


def record_inbound(
    state: ConversationState, message: InboundMessage, cfg: ConversationConfig
) -> bool:
    """Add a customer message to the state. Returns False for a duplicate ``MessageSid``."""
    if message.message_sid in state.seen_message_sids:
        return False
    state.seen_message_sids.append(message.message_sid)
    del state.seen_message_sids[: -max(1, cfg.max_seen_message_sids)]
    if message.channel not in state.channels:
        state.channels.append(message.channel)
    state.active_channel = message.channel
    state.business_addresses[message.channel] = message.to_address
    state.last_activity = message.received_at
    if message.profile_name:
        state.profile_name = message.profile_name
    text = message.body
    if message.media_urls:
        text = f"{text}\n[{len(message.media_urls)} attachment(s)]".strip()
    state.transcript.append(
        TranscriptEntry(
            role=Role.CUSTOMER,
            text=text,
            channel=message.channel,
            at=message.received_at,
            message_sid=message.message_sid,
        )
    )
    if message.opt_out is OptOut.STOP:
        state.opted_out = True
    elif message.opt_out is OptOut.START:
        state.opted_out = False
    if message.opt_out is None:
        state.pending.append(message)
    return True


def record_delivery_status(state: ConversationState, update: DeliveryStatusUpdate) -> bool:
    """Apply a status callback to the matching assistant line. Returns True if it changed."""
    for entry in reversed(state.transcript):
        if entry.message_sid != update.message_sid:
            continue
        old = _STATUS_RANK.get(entry.delivery_status or "", -1)
        if _STATUS_RANK.get(update.status, -1) <= old:
            return False
        entry.delivery_status = update.status
        return True
    return False


def record_reply(
    state: ConversationState, role: Role, text: str, channel: Channel, at: datetime, **extra: object
) -> TranscriptEntry:
    """Add the answer to a turn, placed before customer texts that arrived during the turn.

    Texts that came in while the reply was being sent are answered by the next turn, so in
    the transcript (and the model's history) they follow this reply, not precede it.
    """
    entry = TranscriptEntry(role=role, text=text, channel=channel, at=at, **extra)
    unanswered = {m.message_sid for m in state.pending}
    index = len(state.transcript)
    while index > 0:
        previous = state.transcript[index - 1]
        if previous.role is not Role.CUSTOMER or previous.message_sid not in unanswered:
            break
        index -= 1
    state.transcript.insert(index, entry)
    state.last_activity = max(at, state.last_activity or at)
    return entry


def chat_history(state: ConversationState) -> list[ChatMessage]:
    """The transcript as Chat Completions messages (customer → user, others → assistant)."""
    return [message for entry in state.transcript if (message := _as_chat(entry)) is not None]


def _as_chat(entry: TranscriptEntry) -> ChatMessage | None:
    """``entry`` as the model sees it, or None when the model never sees it."""
    if entry.role is Role.CUSTOMER:
        return ChatMessage(role="user", content=entry.text)
    if (
        entry.role in (Role.ASSISTANT, Role.AGENT)
        and entry.delivery_status not in _UNSEEN
        and entry.text  # a spoken reply cut off before the caller heard a word
    ):
        return ChatMessage(role="assistant", content=entry.text)
    return None


class ChatLines:
    """The model's window of the transcript, each line's message and tokens made once.

    A late turn of a long conversation carries hundreds of transcript lines; making a
    message of every one on every turn was the one cost of a turn that grew with the run.
    Lines are visited newest first and only until the window is full, and only those are
    kept for the next turn (so what is kept is bounded by the window, not the transcript).
    A line is made again when what the model would see of it changed (its text after a
    cut-off or a redaction, a delivery status that hides it). Deterministic: the result is
    the newest lines of ``chat_history(state)`` that fit; only the work is kept, never
    anything that steers the run.
    """

    def __init__(self) -> None:
        self._made: dict[int, tuple[TranscriptEntry, tuple[object, ...], _Line | None]] = {}

    def window(self, state: ConversationState, limit: int | None) -> list[ChatMessage]:
        """The newest lines whose estimated tokens fit ``limit``, oldest first.

        The newest line always, even alone over ``limit`` (the model must see what it
        answers); ``limit`` None: every line.
        """
        made: dict[int, tuple[TranscriptEntry, tuple[object, ...], _Line | None]] = {}
        kept: list[ChatMessage] = []
        used = 0
        for entry in reversed(state.transcript):
            seen = (entry.role, entry.text, entry.delivery_status)
            hit = self._made.get(id(entry))
            if hit is not None and hit[0] is entry and hit[1] == seen:
                line = hit[2]
            else:
                message = _as_chat(entry)
                line = None if message is None else (message, budget.estimate_tokens(message))
            if line is not None:
                if limit is not None and kept and used + line[1] > limit:
                    break
                used += line[1]
                kept.append(line[0])
            made[id(entry)] = (entry, seen, line)  # holding the entry keeps its id unique
        self._made = made
        kept.reverse()
        return kept


def system_note(text: str, channel: Channel, at: datetime) -> TranscriptEntry:
    """A transcript line for operators (call started, tool called); never shown to the model."""
    return TranscriptEntry(role=Role.SYSTEM, text=text, channel=channel, at=at)


def record_voice_prompt(state: ConversationState, text: str, at: datetime) -> TranscriptEntry:
    """Add what a caller said (or keyed) to the transcript."""
    if Channel.VOICE not in state.channels:
        state.channels.append(Channel.VOICE)
    state.active_channel = Channel.VOICE
    state.last_activity = at
    entry = TranscriptEntry(role=Role.CUSTOMER, text=text, channel=Channel.VOICE, at=at)
    state.transcript.append(entry)
    return entry


def heard_part(said: str, heard: str) -> str:
    """The part of a spoken reply the caller heard before interrupting.

    ``heard`` is Twilio's ``utteranceUntilInterrupt``. When it is a prefix of what we said
    (the usual case, give or take spacing and case), the reply is cut just after it, keeping
    our own spelling; otherwise Twilio's words are the best account of what was heard.
    """
    words = heard.split()
    if not words:
        return ""
    match = re.search(r"\s+".join(map(re.escape, words)), said, re.IGNORECASE)
    return said[: match.end()] if match else heard.strip()


def truncate_spoken_reply(state: ConversationState, turn: int, heard: str) -> bool:
    """Cut the voice reply of ``turn`` to what the caller heard. False if there is none."""
    for entry in reversed(state.transcript):
        if entry.turn == turn and entry.role is Role.ASSISTANT and entry.channel is Channel.VOICE:
            entry.text = heard_part(entry.text, heard)
            entry.interrupted = True
            return True
    return False


def trimmed_for_carry(state: ConversationState, cfg: ConversationConfig) -> ConversationState:
    """A copy small enough to carry through continue-as-new."""
    carried = state.model_copy(deep=True)
    carried.transcript = carried.transcript[-max(1, cfg.max_transcript_entries) :]
    carried.runs += 1
    return carried
