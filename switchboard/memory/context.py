"""The recall context as the model reads it: one bounded, documented block of plain text.

It is appended to the system message, so any OpenAI-compatible model gets it without
special support. Sections appear only when they have content, in this order, each line
capped, the whole block capped at ``MAX_CHARS`` (lower sections are cut first)::

    ## What we know about this customer (from earlier conversations; may be out of date)
    Customer: +14155550100 (also: whatsapp:+14155550100, ada@example.com)
    Traits:
    - name: Ada (remember, 2026-11-20)
    Observations:
    - Prefers email (2026-11-20)
    Earlier conversations:
    - 2026-11-20: Ada asked about returning shoes; a refund was offered.
    Earlier messages:
    - 2026-11-20 whatsapp, customer: my name is Ada and I prefer email

    ## Knowledge base (cite the source in brackets when you use it)
    [policies.md > Returns] Unworn shoes can be returned within 30 days ...
"""

from __future__ import annotations

from switchboard.memory.models import Recall

MAX_CHARS = 6000
"""The whole block never exceeds this (about 1,500 tokens)."""
LINE_CHARS = 300
"""An observation, summary or earlier message is cut to this length."""
CHUNK_CHARS = 1200
"""A knowledge snippet is cut to this length."""

MEMORY_HEADING = (
    "## What we know about this customer (from earlier conversations; may be out of date)"
)
KNOWLEDGE_HEADING = "## Knowledge base (cite the source in brackets when you use it)"


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def memory_lines(recall: Recall) -> list[str]:
    """The customer section, most important lines first (empty for a stranger)."""
    if not recall.known:
        return []
    others = [i for i in recall.identifiers if i != recall.customer]
    lines = [MEMORY_HEADING, f"Customer: {recall.customer}"]
    if others:
        lines[-1] += f" (also: {', '.join(others)})"
    if recall.traits:
        lines.append("Traits:")
        lines += [
            f"- {t.name}: {_cut(str(t.value), LINE_CHARS)} ({t.source}, {t.at.date()})"
            for t in recall.traits
        ]
    if recall.observations:
        lines.append("Observations:")
        lines += [f"- {_cut(o.text, LINE_CHARS)} ({o.at.date()})" for o in recall.observations]
    if recall.summaries:
        lines.append("Earlier conversations:")
        lines += [f"- {s.at.date()}: {_cut(s.text, LINE_CHARS)}" for s in recall.summaries]
    if recall.past_lines:
        lines.append("Earlier messages:")
        lines += [
            f"- {p.at.date()} {p.channel}, {p.role}: {_cut(p.text, LINE_CHARS)}"
            for p in recall.past_lines
        ]
    return lines


def knowledge_lines(recall: Recall) -> list[str]:
    """The knowledge section: each snippet with its source."""
    if not recall.knowledge:
        return []
    lines = [KNOWLEDGE_HEADING]
    for hit in recall.knowledge:
        source = f"{hit.document} > {hit.section}" if hit.section else hit.document
        lines.append(f"[{source}] {_cut(hit.text, CHUNK_CHARS)}")
    return lines


def format_context(recall: Recall, max_chars: int = MAX_CHARS) -> str:
    """The block put into the model's system message ("" when there is nothing to say)."""
    memory, knowledge = memory_lines(recall), knowledge_lines(recall)
    # Knowledge answers the current message: it keeps its room; memory fills the rest.
    knowledge_text = "\n".join(knowledge)
    budget = max_chars - len(knowledge_text) - 2
    kept: list[str] = []
    for line in memory:
        if sum(len(k) + 1 for k in kept) + len(line) > budget:
            break
        kept.append(line)
    parts = ["\n".join(kept), knowledge_text]
    return "\n\n".join(p for p in parts if p)[:max_chars]
