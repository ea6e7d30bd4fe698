"""Conversation summaries: the model's, or a deterministic one when no model is configured."""

from __future__ import annotations

from switchboard.memory.models import TranscriptLine

SUMMARY_INSTRUCTIONS = (
    "Summarise this customer-service conversation for a colleague in at most three short "
    "sentences. Include what the customer asked for, anything they told us about "
    "themselves (name, preferences, contact details), and how it ended. Plain text."
)
MAX_SUMMARY_CHARS = 600


def transcript_text(lines: list[TranscriptLine], limit: int = 12000) -> str:
    """The conversation as the summariser reads it (latest part if it is long)."""
    text = "\n".join(f"{line.role} ({line.channel}): {line.text}" for line in lines)
    return text[-limit:]


def fallback_summary(lines: list[TranscriptLine]) -> str:
    """What the customer said and how we last answered, quoted, within 600 characters."""
    said = [line.text.strip() for line in lines if line.role == "customer" and line.text.strip()]
    answers = [line.text.strip() for line in lines if line.role in ("assistant", "agent")]
    channels = sorted({str(line.channel) for line in lines})
    head = f"{len(said)} message(s) from the customer on {', '.join(channels) or 'no channel'}."
    quoted = "; ".join(f'"{s[:160]}"' for s in said[:4])
    text = f"{head} The customer said: {quoted}." if quoted else head
    if answers:
        text += f' Our last reply: "{answers[-1][:160]}".'
    return text[:MAX_SUMMARY_CHARS]
