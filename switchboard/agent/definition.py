"""``Agent``: who the business's agent is, how it sounds, and the tools it has of its own."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from switchboard.agent import builtins as builtin
from switchboard.agent import call_control as voice_tools
from switchboard.agent.context import BoundCall
from switchboard.agent.mcp_catalogue import McpCatalogue
from switchboard.agent.mcp_server import SEPARATOR, McpServer
from switchboard.agent.schema import tool_policy
from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import HANDOFF_MESSAGE, HANDOFF_TIMEOUT_MESSAGE
from switchboard.contract.tools import ToolPolicy

if TYPE_CHECKING:  # at run time only names are read: no import cycle with intelligence
    from switchboard.contract.rules import IntelligenceRule
    from switchboard.intelligence.operator import Operator

DEFAULT_HANDOFF_MESSAGE = HANDOFF_MESSAGE
DEFAULT_HANDOFF_TIMEOUT_MESSAGE = HANDOFF_TIMEOUT_MESSAGE
RESERVED_NAMES = frozenset(builtin.BUILTIN_TOOLS) | frozenset(voice_tools.SCHEMAS)
"""Names the built-in and call-control tools use; an agent's own tools cannot take them."""


class AgentTool(Protocol):
    """A tool of the agent's own: a Python function (``@tool``) or an ``HttpTool``."""

    @property
    def name(self) -> str:
        """The name the model calls it by."""

    @property
    def description(self) -> str:
        """What it is for, as the model reads it."""

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take."""

    @property
    def retries(self) -> int:
        """Attempts after a failed first one."""

    @property
    def channels(self) -> Sequence[Channel]:
        """The channels whose turns may offer it."""

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema."""

    def bind(self, arguments: str) -> BoundCall:
        """Validate the model's JSON arguments (``InvalidToolArguments`` if they do not fit)."""


@dataclass(frozen=True)
class AgentVoice:
    """Voice settings of the agent; each None falls back to its ``VOICE_*`` setting."""

    language: str | None = None
    tts_provider: str | None = None
    voice: str | None = None
    transcription_provider: str | None = None
    speech_model: str | None = None


@dataclass(frozen=True, kw_only=True)
class Agent:
    """The business's agent: instructions, model, voice, hand-off wording, tools, operators.

    Raises:
        ValueError: two tools share a name, a tool takes a built-in tool's name or an MCP
            server's namespace, two MCP servers share a name, or two operators (or two
            rules) share a name.
    """

    name: str
    instructions: str
    """The system prompt."""
    model: str | None = None
    """The model to ask; None: ``LLM_MODEL``."""
    greeting: str | None = None
    """Spoken when a call connects; None: ``VOICE_WELCOME_GREETING``; "": no greeting."""
    voice: AgentVoice = field(default_factory=AgentVoice)
    tools: Sequence[AgentTool] = ()
    handoff_message: str = DEFAULT_HANDOFF_MESSAGE
    """What the customer is told when the conversation goes to a person."""
    handoff_timeout_message: str = DEFAULT_HANDOFF_TIMEOUT_MESSAGE
    """What the customer is told when no person picks up in time."""
    operators: Sequence[Operator] = ()
    """Conversation-intelligence operators of the agent's own, beside the built-ins."""
    rules: Sequence[IntelligenceRule] = ()
    """Rules that act on operators' results (``switchboard.contract.rules``)."""
    mcp: Sequence[McpServer] = ()
    """MCP servers whose tools the agent may call (``<server>__<tool>``, found at start)."""
    _by_name: dict[str, AgentTool] = field(init=False, repr=False, compare=False)
    _mcp_tools: McpCatalogue = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.instructions.strip():
            raise ValueError(f"agent {self.name!r}: instructions are empty")
        by_name: dict[str, AgentTool] = {}
        for tool in self.tools:
            if tool.name in RESERVED_NAMES:
                raise ValueError(f"agent {self.name!r}: {tool.name!r} is a built-in tool's name")
            if tool.name in by_name:
                raise ValueError(f"agent {self.name!r}: two tools are named {tool.name!r}")
            by_name[tool.name] = tool
        object.__setattr__(self, "tools", tuple(self.tools))
        operator_names: set[str] = set()
        for operator in self.operators:
            if operator.name in operator_names:
                raise ValueError(f"agent {self.name!r}: two operators are named {operator.name!r}")
            operator_names.add(operator.name)
        object.__setattr__(self, "operators", tuple(self.operators))
        rule_names = [rule.name for rule in self.rules]
        if duplicates := sorted({name for name in rule_names if rule_names.count(name) > 1}):
            raise ValueError(f"agent {self.name!r}: two rules are named {duplicates[0]!r}")
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "_by_name", by_name)
        self._check_mcp()

    def _check_mcp(self) -> None:
        servers = tuple(self.mcp)
        names = [server.name for server in servers]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"agent {self.name!r}: two MCP servers are named {duplicates[0]!r}")
        for tool in self.tools:
            if any(tool.name.startswith(f"{name}{SEPARATOR}") for name in names):
                raise ValueError(
                    f"agent {self.name!r}: {tool.name!r} is in an MCP server's namespace"
                )
        object.__setattr__(self, "mcp", servers)
        # Filled by the process's MCP connections (``mcp_runtime``); empty until they list.
        object.__setattr__(self, "_mcp_tools", McpCatalogue(RESERVED_NAMES | set(self._by_name)))

    @property
    def mcp_tools(self) -> McpCatalogue:
        """The tools the MCP servers offer now (empty until the connections list them)."""
        return self._mcp_tools

    def get_tool(self, name: str) -> AgentTool | None:
        """The agent's own tool of that name, or an MCP server's tool on offer now."""
        return self._by_name.get(name) or self._mcp_tools.get(name)

    def with_tools(self, tools: Iterable[AgentTool]) -> Agent:
        """This agent with more tools (checked like the first ones)."""
        return dataclasses.replace(self, tools=(*self.tools, *tools))

    def with_mcp(self, servers: Iterable[McpServer]) -> Agent:
        """This agent with more MCP servers (checked like the first ones)."""
        return dataclasses.replace(self, mcp=(*self.mcp, *servers))

    def mcp_policies(self) -> list[ToolPolicy]:
        """How the workflow runs each MCP tool on offer now (recorded by each turn)."""
        return self._mcp_tools.policies()

    def policies(self) -> list[ToolPolicy]:
        """How the workflow runs each of the agent's tools (``ConversationConfig.tools``)."""
        return [tool_policy(tool) for tool in self.tools]

    def schemas(self, names: Iterable[str], channel: Channel | None = None) -> list[dict[str, Any]]:
        """OpenAI tool schemas for the named tools, in the order given (unknown names skipped).

        Names resolve to built-in tools, call-control tools and the agent's own. On a call
        (``channel`` voice) the call-control version of a shared name (``end_conversation``:
        "end the call") is the one the model sees.
        """
        found = (self._schema(name, channel) for name in names)
        return [schema for schema in found if schema is not None]

    def _schema(self, name: str, channel: Channel | None) -> dict[str, Any] | None:
        if channel == Channel.VOICE and name in voice_tools.SCHEMAS:
            return voice_tools.SCHEMAS[name]
        if name in builtin.BUILTIN_TOOLS:
            return _builtin_schema(name)
        if name in voice_tools.SCHEMAS:
            return voice_tools.SCHEMAS[name]
        tool = self.get_tool(name)
        return tool.schema() if tool is not None else None


@functools.cache
def _builtin_schema(name: str) -> dict[str, Any]:
    """A built-in tool's schema, generated once per process (shared: do not modify it)."""
    return builtin.BUILTIN_TOOLS[name].schema()
