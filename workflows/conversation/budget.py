"""Bounds on what one conversation costs: pure functions, deterministic, easy to unit test.

- The model's history is windowed by tokens (``LLM_HISTORY_TOKENS``): the newest transcript
  lines that fit (``state_ops.ChatLines``); a turn's own tool calls and results are kept
  whole on top (``ConversationBase.chat_history``).
- The customer's texts are metered by a token bucket (``CUSTOMER_RATE_LIMIT``): beyond it,
  texts wait and are answered together by the next turn.
- A reply longer than one message allows is split at sentence or word boundaries.

Tokens are estimated, not counted: four characters a token (the usual rule of thumb for
English with OpenAI's tokenizers) plus a few for each message's framing. A tokenizer would
have to run inside the workflow on every turn; the estimate errs on the side of a smaller
window for text that tokenizes densely, which is what a budget wants.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import ConversationConfig, RateBucket
from switchboard.contract.llm import ChatMessage

CHARS_PER_TOKEN = 4
"""The estimate's ratio: characters per token."""
MESSAGE_OVERHEAD_TOKENS = 4
"""What each Chat Completions message costs besides its text (role, separators)."""

MESSAGE_LIMITS = {Channel.SMS: 1600, Channel.WHATSAPP: 1600}
"""The longest ``Body`` Twilio's Messages API takes (error 21617 beyond it). WhatsApp itself
allows 4,096 characters, but the API refuses a body over 1,600 on every channel."""

RATE_WINDOW = timedelta(minutes=1)
"""The rate limit's period; the slow-down notice goes out at most once in it."""


# --- the model's history --------------------------------------------------------------------


def estimate_tokens(message: ChatMessage) -> int:
    """A cheap estimate of what ``message`` costs in the prompt (see the module docstring)."""
    chars = len(message.content)
    for call in message.tool_calls or ():
        chars += len(call.id) + len(call.name) + len(call.arguments)
    return MESSAGE_OVERHEAD_TOKENS + -(-chars // CHARS_PER_TOKEN)


# --- the customer's rate --------------------------------------------------------------------


def rate_limited(cfg: ConversationConfig) -> bool:
    """Whether this run meters the customer's texts (``CUSTOMER_RATE_LIMIT`` above 0)."""
    return cfg.rate_per_minute > 0 and cfg.rate_burst > 0


def refill(bucket: RateBucket, cfg: ConversationConfig, now: datetime) -> float:
    """The bucket's tokens at ``now`` (recorded in it), refilled since it was last counted."""
    burst = float(cfg.rate_burst)
    tokens = burst if bucket.tokens is None else bucket.tokens
    if bucket.at is not None and now > bucket.at:
        tokens += (now - bucket.at) / RATE_WINDOW * cfg.rate_per_minute
    bucket.tokens, bucket.at = min(burst, tokens), now
    return bucket.tokens


def admit(bucket: RateBucket, cfg: ConversationConfig, now: datetime) -> bool:
    """A text arrived: take a token for it. False (and the bucket holds) when there is none."""
    if refill(bucket, cfg, now) >= 1:
        bucket.tokens = (bucket.tokens or 0.0) - 1
        return True
    bucket.held = True
    return False


def release_in(bucket: RateBucket, cfg: ConversationConfig, now: datetime) -> timedelta:
    """How long held texts wait for the token their turn takes (zero: take it now)."""
    missing = 1 - refill(bucket, cfg, now)
    if missing <= 0:
        return timedelta(0)
    return RATE_WINDOW * (missing / cfg.rate_per_minute)


def release(bucket: RateBucket, cfg: ConversationConfig, now: datetime) -> None:
    """The held texts' turn starts: it takes one token for all of them."""
    bucket.tokens = refill(bucket, cfg, now) - 1
    bucket.held = False


def notice_due(bucket: RateBucket, now: datetime) -> bool:
    """Whether the slow-down notice may go out (at most once in ``RATE_WINDOW``)."""
    return bucket.notice_at is None or now - bucket.notice_at >= RATE_WINDOW


# --- message length -------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…](?=\s)|\n")


def split_message(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at sentence or word boundaries.

    A cut goes after the last sentence end in the second half of the part, else at the last
    space, else (one unbroken word longer than the part) at the limit itself.
    """
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        head = rest[: limit + 1]  # a boundary just past the limit still counts
        ends = (m.end() for m in _SENTENCE_END.finditer(head, limit // 2))
        cut = max((end for end in ends if end <= limit), default=0)
        if not cut:
            cut = head.rfind(" ", limit // 4)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts
