"""The offline demo responder: answers when no LLM endpoint is configured.

It is deliberately simple and always says it is a demo, so nobody mistakes it for the
real agent. It reads the whole conversation, so it can show that context carries across
turns and channels ("my name is Ada" … "you told me your name is Ada"), and the recall
context in its system message, so it can show knowledge grounding: a knowledge-base
passage relevant to the customer's message is quoted, with its source.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from switchboard.agent.builtins import HANDOFF_TO_HUMAN, REMEMBER, SCHEDULE_CALLBACK
from switchboard.contract.llm import ChatMessage, ToolCall
from switchboard.memory.text_search import relevance, search_terms

DEMO_MODEL = "switchboard-demo"
DEMO_MARK = "[demo]"

_NAME = re.compile(r"\bmy name is ([A-Za-z][\w'-]{0,40})", re.IGNORECASE)
_PREFERENCE = re.compile(r"\bI prefer ([\w' -]{1,40}?)(?:[.,!?]|\band\b|$)", re.IGNORECASE)


_HUMAN = re.compile(r"\b(human|person|real agent|someone real|representative)\b", re.IGNORECASE)
_CALL_BACK = re.compile(
    r"\b(?:call|text) me back\b(?:.*?\b(?:at|after)\s+(?P<clock>\d{1,2}(?::\d{2})?\s*(?:am|pm)?)"
    r"|.*?\bin\s+(?P<amount>\d{1,3})\s*(?P<unit>min|minute|minutes|hour|hours)\b)?",
    re.IGNORECASE,
)
_PURPOSE = re.compile(r"Its purpose: (.+)")

_NAME_TRAIT = re.compile(r"^- name: ([^\s(]+)", re.MULTILINE)  # from the recall context


def _remembered_name(messages: list[ChatMessage]) -> str | None:
    for message in reversed(messages):  # the latest name given wins, then what memory knows
        if message.role == "user" and (match := _NAME.search(message.content)):
            return match.group(1)
        if message.role == "system" and (match := _NAME_TRAIT.search(message.content)):
            return match.group(1)
    return None


_KNOWLEDGE_HEADING = re.compile(r"^## Knowledge base\b.*$", re.MULTILINE)
# A passage as ``switchboard.memory.context.knowledge_lines`` writes it: "[source] text".
_PASSAGE = re.compile(r"^\[(?P<source>[^\]\n]{1,400})\] (?P<text>\S.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
QUOTE_CHARS = 200
"""A grounded reply quotes at most this much of the passage."""


def knowledge_passages(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    """The knowledge-base passages the system message(s) carry: ``(source, text)`` each.

    The section starts at its ``## Knowledge base`` heading and runs to the next heading
    (the voice path appends it after the memory section, the text path puts it last).
    """
    passages: list[tuple[str, str]] = []
    for message in messages:
        if message.role != "system":
            continue
        for heading in _KNOWLEDGE_HEADING.finditer(message.content):
            for line in message.content[heading.end() :].splitlines():
                if line.startswith("## "):
                    break
                if match := _PASSAGE.match(line.strip()):
                    passages.append((match.group("source"), match.group("text").strip()))
    return passages


def grounding(messages: list[ChatMessage], question: str) -> tuple[str, str] | None:
    """The passage most relevant to ``question`` and its best sentence; None if none bears.

    Relevance is the terms of the question a passage shares (by stem), so a passage the
    search returned for other words, or for an earlier message, is not quoted.
    """
    terms = search_terms(question)
    if not terms:
        return None
    best: tuple[int, str, str] | None = None
    for source, text in knowledge_passages(messages):
        score = relevance(terms, text) + relevance(terms, source)
        if score > 0 and (best is None or score > best[0]):
            best = (score, source, text)
    if best is None:
        return None
    _, source, text = best
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()] or [text]
    # First of the most relevant sentences: the passage's own words, cut short.
    sentence = max(sentences, key=lambda s: relevance(terms, s))
    quote = sentence if len(sentence) <= QUOTE_CHARS else sentence[: QUOTE_CHARS - 1] + "…"
    return source, quote


def callback_time(text: str, now: datetime) -> datetime | None:
    """When "call me back at 3pm" / "in 10 minutes" asks for (UTC); None without a time."""
    match = _CALL_BACK.search(text)
    if match is None:
        return None
    if match.group("amount"):
        unit = match.group("unit").lower()
        minutes = int(match.group("amount")) * (60 if unit.startswith("hour") else 1)
        return now + timedelta(minutes=minutes)
    clock = (match.group("clock") or "").lower().replace(" ", "")
    if not clock:
        return now + timedelta(hours=1)
    hour, _, minute = clock.rstrip("apm").partition(":")
    hours = (
        int(hour) % 12 + (12 if clock.endswith("pm") else 0)
        if clock[-2:] in ("am", "pm")
        else int(hour)
    )
    at = now.replace(hour=min(hours, 23), minute=int(minute or 0), second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def demo_reply(messages: list[ChatMessage]) -> str:
    """A short, deterministic reply to the last customer message(s)."""
    if messages and messages[-1].role == "tool" and messages[-1].content.startswith("Callback"):
        return f"{DEMO_MARK} {messages[-1].content.split(' Confirm')[0]}"
    user_turns = [m.content for m in messages if m.role == "user"]
    if not user_turns and messages and (purpose := _PURPOSE.search(messages[0].content)):
        return f"{DEMO_MARK} Hello! We're getting in touch about: {purpose.group(1).strip()}"
    last = user_turns[-1] if user_turns else ""
    lowered = last.lower()
    name = _remembered_name(messages)
    if match := _NAME.search(last):
        text = f"Nice to meet you, {match.group(1)}! How can I help you today?"
    elif _HUMAN.search(last):
        text = "I can connect you with a person."
    elif "call me back" in lowered or "callback" in lowered:
        text = "Sure. When should we call you back?"
    elif "my name" in lowered or "who am i" in lowered:
        text = f"You told me your name is {name}." if name else "You have not told me your name."
    elif grounded := grounding(messages, last):
        source, quote = grounded
        greeting = f"Thanks, {name}. " if name else ""
        text = f'{greeting}From our knowledge base: "{quote}" [{source}]'
    else:
        greeting = f"Thanks, {name}. " if name else "Thanks for your message. "
        text = f'{greeting}You said: "{last.strip()[:200]}"'
    return (
        f"{DEMO_MARK} {text} Set LLM_BASE_URL to connect a real model."
        if len(user_turns) <= 1
        else f"{DEMO_MARK} {text}"
    )


def demo_tool_calls(messages: list[ChatMessage], offered: list[str]) -> list[ToolCall]:
    """``remember`` calls for "my name is …" and "I prefer …" in the latest customer message.

    Only right after a customer message: once the tool results are in, the demo answers.
    """
    if not messages or messages[-1].role != "user":
        return []
    last = messages[-1].content
    if HANDOFF_TO_HUMAN in offered and _HUMAN.search(last):
        args = {"reason": f"The customer asked for a person: {last[:200]}"}
        return [ToolCall(id="demo_handoff", name=HANDOFF_TO_HUMAN, arguments=json.dumps(args))]
    if SCHEDULE_CALLBACK in offered and (at := callback_time(last, datetime.now(UTC))):
        channel = "sms" if re.search(r"\btext me\b", last, re.IGNORECASE) else "voice"
        args = {"at": at.isoformat(), "channel": channel, "note": last[:200]}
        return [ToolCall(id="demo_callback", name=SCHEDULE_CALLBACK, arguments=json.dumps(args))]
    if REMEMBER not in offered:
        return []
    calls: list[ToolCall] = []
    if match := _NAME.search(last):
        name = match.group(1)
        args = {"fact": f"The customer's name is {name}", "trait": "name", "value": name}
        calls.append(ToolCall(id=f"demo_{len(calls)}", name=REMEMBER, arguments=json.dumps(args)))
    if match := _PREFERENCE.search(last):
        preference = match.group(1).strip()
        args = {"fact": f"The customer prefers {preference}"}
        calls.append(ToolCall(id=f"demo_{len(calls)}", name=REMEMBER, arguments=json.dumps(args)))
    return calls
