"""The model's side of a turn: Chat Completions messages, tool calls, requests and replies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from switchboard.contract.addresses import Channel


class ToolCall(BaseModel):
    """A function call the model asked for (``arguments`` is the raw JSON text)."""

    id: str
    name: str
    arguments: str = "{}"


class ChatMessage(BaseModel):
    """One OpenAI Chat Completions message (tool calls and tool results included)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The message in the Chat Completions wire format."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message


def join_context(*parts: str) -> str:
    """The system message's context: its non-empty parts, a blank line apart."""
    return "\n\n".join(part for part in parts if part)


class RecallFirst(BaseModel):
    """Recall to run in the reply's own activity, before the model is asked.

    A text turn's recall and its model call were two local activities, each an activation
    of the workflow more; asked together they are one (see ``benchmarks/README.md``).
    """

    customer: str
    query: str = Field(description="what the customer just wrote (its end, bounded)")
    then: str = Field(default="", description="context that follows the recalled one")


class LLMRequest(BaseModel):
    """Input of the reply-generation activity: the conversation so far, oldest first."""

    conversation_id: str
    channel: Channel
    turn: int
    messages: list[ChatMessage]
    context: str = Field(default="", description="recalled memory and knowledge, for the system")
    tools: list[str] = Field(default_factory=list, description="names of the tools offered")
    recall: RecallFirst | None = Field(
        default=None,
        description="recall first: its context, then ``recall.then``, replaces ``context``"
        " (which stays as it is if recall fails)",
    )


class LLMReply(BaseModel):
    """What the model answered: text, or tool calls to run before it answers."""

    text: str
    model: str
    demo: bool = False
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tokens: int = Field(
        default=0, description="the model's usage, prompt and completion (0: none reported)"
    )
    recalled: str | None = Field(
        default=None, description="the context recall gave (``LLMRequest.recall``); None: none"
    )
