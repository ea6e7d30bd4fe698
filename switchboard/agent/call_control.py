"""Call-control tools offered to the model on voice, and their validation.

The model sees OpenAI function tools; the workflow turns the calls it approves into
``VoiceAction``s that the gateway performs on the live call. Validation is pure (no I/O), so
it runs inside the workflow's update handler.
"""

from __future__ import annotations

import json
import re
from typing import Any

from switchboard.contract.llm import ToolCall
from switchboard.contract.voice import VoiceAction

SEND_DIGITS = "send_digits"
SWITCH_LANGUAGE = "switch_language"
END_CONVERSATION = "end_conversation"

DIGITS_PATTERN = r"^[0-9w#*]{1,64}$"
"""What ``sendDigits`` accepts: 0-9, ``w`` (a half-second pause), ``#`` and ``*``."""
_DIGITS = re.compile(DIGITS_PATTERN)
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")

SCHEMAS: dict[str, dict[str, Any]] = {
    SEND_DIGITS: {
        "type": "function",
        "function": {
            "name": SEND_DIGITS,
            "description": "Play DTMF tones on the call, e.g. to reach an extension. "
            "Digits 0-9, '*', '#', and 'w' for a half-second pause.",
            "parameters": {
                "type": "object",
                "properties": {"digits": {"type": "string", "pattern": _DIGITS.pattern}},
                "required": ["digits"],
                "additionalProperties": False,
            },
        },
    },
    SWITCH_LANGUAGE: {
        "type": "function",
        "function": {
            "name": SWITCH_LANGUAGE,
            "description": "Switch the language you speak and listen in, when the caller "
            "prefers another language. BCP-47 code such as 'es-ES' or 'fr-FR'.",
            "parameters": {
                "type": "object",
                "properties": {"language": {"type": "string"}},
                "required": ["language"],
                "additionalProperties": False,
            },
        },
    },
    END_CONVERSATION: {
        "type": "function",
        "function": {
            "name": END_CONVERSATION,
            "description": "End the call once the caller's request is resolved and you have "
            "said goodbye.",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string"}},
                "required": ["reason"],
                "additionalProperties": False,
            },
        },
    },
}

VOICE_TOOLS = [SEND_DIGITS, SWITCH_LANGUAGE, END_CONVERSATION]
"""The tools every voice turn offers, in the order the model sees them."""


class InvalidToolCall(ValueError):
    """The model called a tool that does not exist or with arguments that do not fit."""


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        parsed = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidToolCall(f"{call.name}: arguments are not JSON") from exc
    if not isinstance(parsed, dict):
        raise InvalidToolCall(f"{call.name}: arguments must be an object")
    return parsed


def to_action(call: ToolCall) -> VoiceAction:
    """The call action a tool call asks for.

    Raises:
        InvalidToolCall: unknown tool, or arguments that fail validation.
    """
    args = _arguments(call)
    if call.name == SEND_DIGITS:
        digits = str(args.get("digits", ""))
        if not _DIGITS.match(digits):
            raise InvalidToolCall(f"send_digits: {digits!r} is not 0-9, w, # or *")
        return VoiceAction(kind="send_digits", digits=digits)
    if call.name == SWITCH_LANGUAGE:
        language = str(args.get("language", ""))
        if not _LANGUAGE.match(language):
            raise InvalidToolCall(f"switch_language: {language!r} is not a BCP-47 code")
        return VoiceAction(kind="language", language=language)
    if call.name == END_CONVERSATION:
        return VoiceAction(kind="end", reason=str(args.get("reason", "")) or None)
    raise InvalidToolCall(f"unknown tool {call.name!r}")
