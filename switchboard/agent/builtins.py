"""Built-in agent tools, declared once: pydantic arguments → OpenAI schemas.

The workflow validates every call the model makes against the tool's argument model (pure,
deterministic) before acting on it; a call that does not fit is answered with the
validation error as the tool result, so the model can correct itself. The agent's own tools
(``switchboard.agent``) are validated by the activity that runs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.contract.llm import ToolCall

REMEMBER = "remember"
SEARCH_KNOWLEDGE = "search_knowledge"
HANDOFF_TO_HUMAN = "handoff_to_human"
END_CONVERSATION = "end_conversation"
SCHEDULE_CALLBACK = "schedule_callback"
CANCEL_CALLBACK = "cancel_callback"


class RememberArgs(BaseModel):
    """Arguments of ``remember``."""

    model_config = ConfigDict(extra="forbid")

    fact: str = Field(
        min_length=1,
        max_length=500,
        description="the fact in one short sentence, e.g. 'Prefers to be contacted by email'",
    )
    trait: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="when the fact is a stable attribute, its key: name, email, "
        "preferred_channel, language, …",
    )
    value: str | None = Field(
        default=None, max_length=200, description="the attribute's value, with trait"
    )


class SearchKnowledgeArgs(BaseModel):
    """Arguments of ``search_knowledge``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=300, description="what to look up")


class HandoffArgs(BaseModel):
    """Arguments of ``handoff_to_human``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="the customer asked for a person",
        max_length=500,
        description="why a human should take over, in one sentence",
    )


class EndConversationArgs(BaseModel):
    """Arguments of ``end_conversation``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="resolved", max_length=500, description="why it is over")


class ScheduleCallbackArgs(BaseModel):
    """Arguments of ``schedule_callback``."""

    model_config = ConfigDict(extra="forbid")

    at: str = Field(
        min_length=1,
        max_length=64,
        description="when, as an ISO-8601 date and time (UTC unless it has an offset), "
        "e.g. 2026-11-28T15:00:00-08:00",
    )
    channel: Literal["voice", "sms", "whatsapp"] = Field(
        default="voice", description="call (voice) or message (sms, whatsapp) the customer"
    )
    note: str = Field(default="", max_length=500, description="what the callback is about")


class CancelCallbackArgs(BaseModel):
    """Arguments of ``cancel_callback``."""

    model_config = ConfigDict(extra="forbid")

    callback_id: str | None = Field(
        default=None, max_length=64, description="which callback; every scheduled one if omitted"
    )


@dataclass(frozen=True)
class Tool:
    """A tool the model can call: its name, what it is for, and its arguments."""

    name: str
    description: str
    arguments: type[BaseModel]

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema."""
        parameters = self.arguments.model_json_schema()
        parameters.pop("title", None)
        parameters.pop("description", None)
        for prop in parameters.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": parameters,
            },
        }


TEXT_TOOLS: dict[str, Tool] = {
    REMEMBER: Tool(
        REMEMBER,
        "Remember a lasting fact the customer told you about themselves (name, preferences, "
        "contact details, circumstances), so future conversations on any channel know it.",
        RememberArgs,
    ),
    SEARCH_KNOWLEDGE: Tool(
        SEARCH_KNOWLEDGE,
        "Search the business's knowledge base (policies, products, hours) and get the best "
        "passages with their sources. Use it before answering questions about the business.",
        SearchKnowledgeArgs,
    ),
}
"""The memory tools every text turn offers."""

CONVERSATION_TOOLS: dict[str, Tool] = {
    HANDOFF_TO_HUMAN: Tool(
        HANDOFF_TO_HUMAN,
        "Hand the conversation to a human agent, with its full context. Use it when the "
        "customer asks for a person, or when you cannot help. Tell the customer you are "
        "connecting them.",
        HandoffArgs,
    ),
    END_CONVERSATION: Tool(
        END_CONVERSATION,
        "End the conversation once the customer's request is resolved and you have said goodbye.",
        EndConversationArgs,
    ),
    SCHEDULE_CALLBACK: Tool(
        SCHEDULE_CALLBACK,
        "Schedule a call or message back to the customer at the time they ask for. The time "
        "is ISO-8601; ask for their time zone if it is unclear.",
        ScheduleCallbackArgs,
    ),
    CANCEL_CALLBACK: Tool(
        CANCEL_CALLBACK,
        "Cancel a callback scheduled earlier, when the customer no longer wants it.",
        CancelCallbackArgs,
    ),
}
"""The conversation-control tools every turn offers (``cancel_callback`` only when one is
scheduled)."""

BUILTIN_TOOLS: dict[str, Tool] = {**TEXT_TOOLS, **CONVERSATION_TOOLS}
"""Every built-in tool the workflow itself validates and acts on."""


class InvalidToolArguments(ValueError):
    """The model called a tool that does not exist, or with arguments that do not fit."""


def parse_arguments(call: ToolCall) -> BaseModel:
    """The validated arguments of a tool call.

    Raises:
        InvalidToolArguments: unknown tool, arguments not JSON, or failing validation.
    """
    tool = BUILTIN_TOOLS.get(call.name)
    if tool is None:
        raise InvalidToolArguments(f"there is no tool named {call.name!r}")
    try:
        return tool.arguments.model_validate(json.loads(call.arguments or "{}"))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidToolArguments(f"{call.name}: {exc}") from exc


def schemas(names: list[str]) -> list[dict[str, Any]]:
    """OpenAI tool schemas for the named built-in tools (other names are skipped)."""
    return [BUILTIN_TOOLS[name].schema() for name in names if name in BUILTIN_TOOLS]
