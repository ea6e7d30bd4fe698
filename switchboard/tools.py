"""Built-in agent tools on text channels, declared once: pydantic arguments → OpenAI schemas.

The workflow validates every call the model makes against the tool's argument model (pure,
deterministic) before running it as an activity; a call that does not fit is answered with
the validation error as the tool result, so the model can correct itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.models import ToolCall

REMEMBER = "remember"
SEARCH_KNOWLEDGE = "search_knowledge"


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
"""The tools every text turn offers."""


class InvalidToolArguments(ValueError):
    """The model called a tool that does not exist, or with arguments that do not fit."""


def parse_arguments(call: ToolCall) -> BaseModel:
    """The validated arguments of a tool call.

    Raises:
        InvalidToolArguments: unknown tool, arguments not JSON, or failing validation.
    """
    tool = TEXT_TOOLS.get(call.name)
    if tool is None:
        raise InvalidToolArguments(f"there is no tool named {call.name!r}")
    try:
        return tool.arguments.model_validate(json.loads(call.arguments or "{}"))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidToolArguments(f"{call.name}: {exc}") from exc


def schemas(names: list[str]) -> list[dict[str, Any]]:
    """OpenAI tool schemas for the named text tools (unknown names are skipped)."""
    return [TEXT_TOOLS[name].schema() for name in names if name in TEXT_TOOLS]
