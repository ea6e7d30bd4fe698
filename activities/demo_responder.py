"""The offline demo responder: answers when no LLM endpoint is configured.

It is deliberately simple and always says it is a demo, so nobody mistakes it for the
real agent. It reads the whole conversation, so it can show that context carries across
turns and channels ("my name is Ada" … "you told me your name is Ada").
"""

from __future__ import annotations

import json
import re

from switchboard.models import ChatMessage, ToolCall
from switchboard.tools import REMEMBER

DEMO_MODEL = "switchboard-demo"
DEMO_MARK = "[demo]"

_NAME = re.compile(r"\bmy name is ([A-Za-z][\w'-]{0,40})", re.IGNORECASE)
_PREFERENCE = re.compile(r"\bI prefer ([\w' -]{1,40}?)(?:[.,!?]|\band\b|$)", re.IGNORECASE)


_NAME_TRAIT = re.compile(r"^- name: ([^\s(]+)", re.MULTILINE)  # from the recall context


def _remembered_name(messages: list[ChatMessage]) -> str | None:
    for message in reversed(messages):  # the latest name given wins, then what memory knows
        if message.role == "user" and (match := _NAME.search(message.content)):
            return match.group(1)
        if message.role == "system" and (match := _NAME_TRAIT.search(message.content)):
            return match.group(1)
    return None


def demo_reply(messages: list[ChatMessage]) -> str:
    """A short, deterministic reply to the last customer message(s)."""
    user_turns = [m.content for m in messages if m.role == "user"]
    last = user_turns[-1] if user_turns else ""
    lowered = last.lower()
    name = _remembered_name(messages)
    if match := _NAME.search(last):
        text = f"Nice to meet you, {match.group(1)}! How can I help you today?"
    elif "human" in lowered or "agent" in lowered or "person" in lowered:
        text = "I can connect you with a person. (Human handoff is not enabled in this demo.)"
    elif "call me back" in lowered or "callback" in lowered:
        text = "Sure, I would schedule a callback. (Callbacks are not enabled in this demo.)"
    elif "my name" in lowered or "who am i" in lowered:
        text = f"You told me your name is {name}." if name else "You have not told me your name."
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
    if REMEMBER not in offered or not messages or messages[-1].role != "user":
        return []
    last = messages[-1].content
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
