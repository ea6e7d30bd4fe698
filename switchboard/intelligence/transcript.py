"""The transcript as operators use it: rendered for a prompt, and quoted as evidence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from switchboard.contract.intelligence import AnalysisLine, Evidence

CUSTOMER = "customer"
ASSISTANT = "assistant"
AGENT = "agent"
"""A person (after a handoff), as opposed to the AI ``assistant``."""

MAX_PROMPT_CHARS = 24_000
"""Transcript characters a prompt carries; older lines are left out beyond this."""
QUOTE_CHARS = 200


def render(lines: Sequence[AnalysisLine], limit: int = MAX_PROMPT_CHARS) -> str:
    """``[index] role: text`` per line, the newest kept when the whole would exceed ``limit``.

    The index is what the model cites as evidence, so it is the line's own, not a position.
    """
    rendered: list[str] = []
    size = 0
    for line in reversed(lines):
        text = f"[{line.index}] {line.role}: {' '.join(line.text.split())}"
        if rendered and size + len(text) > limit:
            rendered.append("(earlier lines left out)")
            break
        rendered.append(text)
        size += len(text) + 1
    return "\n".join(reversed(rendered))


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def quote(line: AnalysisLine, words: str | None = None) -> Evidence:
    """Evidence pointing at ``line``: ``words`` when given, else the line itself."""
    return Evidence(index=line.index, quote=clip(words if words else line.text))


def cited(items: Iterable[Any], lines: Sequence[AnalysisLine]) -> list[Evidence]:
    """Evidence a model cited (``[{"index", "quote"}]``), kept only where it points at a line.

    A quote that is not in the line it names is replaced by the line: stored evidence must
    show what was said, not what the model remembers of it.
    """
    by_index = {line.index: line for line in lines}
    found: list[Evidence] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        index, words = item.get("index"), item.get("quote")
        line = by_index.get(index) if isinstance(index, int) else None
        if line is None:
            continue
        text = words.strip() if isinstance(words, str) else ""
        found.append(quote(line, text if text and text in line.text else None))
    return found


def said_by(lines: Iterable[AnalysisLine], *roles: str) -> list[AnalysisLine]:
    """The lines of ``roles``, in order."""
    return [line for line in lines if line.role in roles]
