"""How the workflow runs the agent's own tools: policies, invocations, results."""

from __future__ import annotations

from pydantic import BaseModel, Field

from switchboard.contract.addresses import Channel


class ToolPolicy(BaseModel):
    """How the workflow runs one of the agent's own tools (Python or HTTP) as an activity."""

    name: str
    timeout_seconds: float = 10.0
    max_attempts: int = 3
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.SMS, Channel.WHATSAPP, Channel.VOICE],
        description="the channels whose turns offer the tool",
    )


class McpTools(BaseModel):
    """Result of the ``mcp_tools`` local activity: the MCP tools a worker can run now.

    Recorded in the history, so a replay offers the tools the turn offered, whatever the
    servers list by then.
    """

    tools: list[ToolPolicy] = Field(default_factory=list, max_length=1000)


class ToolInvocation(BaseModel):
    """Input of the ``run_tool`` activity: one tool call, with what may be injected into it."""

    name: str
    arguments: str = Field(description="the model's raw JSON arguments")
    call_id: str
    conversation_id: str
    customer: str
    channel: Channel


class ToolResult(BaseModel):
    """What a tool call gave back to the model. ``ok`` is False for refused arguments."""

    content: str
    ok: bool = True
