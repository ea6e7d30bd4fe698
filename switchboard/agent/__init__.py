"""The business's agent, and its tools declared once.

An ``Agent`` names the system prompt, the model, how it sounds on calls, what customers are
told on hand-off, and the agent's own tools: typed Python functions (``@tool``) and HTTP
endpoints (``HttpTool``, in code or in ``TOOLS_FILE``) and the tools of MCP servers
(``McpServer``, found when the process starts). Each tool's schema is what the
model sees, what its arguments are validated against, and (through ``Agent.policies``) how
the workflow times and retries it. ``AGENT=module:attribute`` picks the agent::

    from switchboard.agent import Agent, ToolContext, tool

    @tool(timeout=5)
    async def store_hours(day: str | None = None) -> str:
        '''Opening hours of the shop.'''
        ...

    agent = Agent(name="acme", instructions="You are Acme's assistant.", tools=[store_hours])

Module map: ``definition`` (Agent), ``function_tool`` (@tool), ``http_tool`` (HttpTool),
``http_body`` (an HTTP tool's response, read up to a byte cap), ``http_client`` (the tools'
HTTP client, without cookies), ``context`` (ToolContext, ToolError), ``loading``
(load_agent, TOOLS_FILE), ``mcp_server`` (McpServer), ``mcp_tool`` (one server tool as a
tool), ``mcp_catalogue`` (the MCP tools on offer), ``mcp_client`` (a server's session, on
the ``mcp`` SDK), ``mcp_http`` (its HTTP client, responses capped), ``mcp_runtime``
(connecting them while a process runs).
"""

from switchboard.agent.context import BoundCall, ToolContext, ToolError
from switchboard.agent.definition import (
    DEFAULT_HANDOFF_MESSAGE,
    DEFAULT_HANDOFF_TIMEOUT_MESSAGE,
    RESERVED_NAMES,
    Agent,
    AgentTool,
    AgentVoice,
)
from switchboard.agent.function_tool import FunctionTool, tool
from switchboard.agent.http_client import tool_http_client
from switchboard.agent.http_tool import HttpTool
from switchboard.agent.loading import (
    AgentConfigError,
    default_agent,
    import_agent,
    load_agent,
    load_tools_file,
)
from switchboard.agent.mcp_server import McpServer

__all__ = [
    "DEFAULT_HANDOFF_MESSAGE",
    "DEFAULT_HANDOFF_TIMEOUT_MESSAGE",
    "RESERVED_NAMES",
    "Agent",
    "AgentConfigError",
    "AgentTool",
    "AgentVoice",
    "BoundCall",
    "FunctionTool",
    "HttpTool",
    "McpServer",
    "ToolContext",
    "ToolError",
    "default_agent",
    "import_agent",
    "load_agent",
    "load_tools_file",
    "tool",
    "tool_http_client",
]
