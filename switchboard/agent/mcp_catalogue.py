"""``McpCatalogue``: the MCP tools a process can offer right now, by the name the model uses.

Each server's connection replaces its own entries whenever it lists its tools (at connect,
and on the server's list-changed notification) and drops them when the connection is lost.
Reads are plain dictionary lookups: the catalogue is consulted on every turn.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from switchboard.agent.mcp_tool import McpTool
from switchboard.agent.schema import tool_policy
from switchboard.contract.tools import ToolPolicy

log = structlog.get_logger(__name__)

MAX_MODEL_TOOLS = 128
"""Tools one model request may offer (OpenAI's limit): a request with more is refused, so
the MCP tools on offer are capped at what the built-ins and the agent's own tools leave."""


class McpCatalogue:
    """The discovered tools of every MCP server of one agent (see the module docstring).

    Args:
        reserved: names no MCP tool may take (the agent's own tools, built-ins); the
            ``__`` separator already keeps them apart, this is the belt to those braces.
        limit: the most MCP tools on offer at once, all servers together (by default
            what ``MAX_MODEL_TOOLS`` leaves beside the reserved names); a server's tools
            beyond it are not offered.
    """

    def __init__(self, reserved: Iterable[str] = (), *, limit: int | None = None) -> None:
        self._reserved = frozenset(reserved)
        self._limit = max(0, MAX_MODEL_TOOLS - len(self._reserved)) if limit is None else limit
        self._by_server: dict[str, dict[str, McpTool]] = {}
        self._by_name: dict[str, McpTool] = {}

    def replace(self, server: str, tools: Iterable[McpTool]) -> None:
        """``server``'s tools are now exactly ``tools`` (a name taken elsewhere is skipped)."""
        taken = {n for s, named in self._by_server.items() if s != server for n in named}
        room = self._limit - len(taken)
        kept: dict[str, McpTool] = {}
        over = 0
        for tool in tools:
            if tool.name in self._reserved or tool.name in taken or tool.name in kept:
                log.warning("mcp_tool_skipped", server=server, tool=tool.name, why="name taken")
            elif len(kept) >= room:
                over += 1
            else:
                kept[tool.name] = tool
        if over:
            log.warning("mcp_tools_skipped", server=server, tools=over, why="too many tools")
        self._by_server[server] = kept
        self._rebuild()

    def drop(self, server: str) -> None:
        """``server`` is unreachable: none of its tools is offered until it answers again."""
        if self._by_server.pop(server, None) is not None:
            self._rebuild()

    def get(self, name: str) -> McpTool | None:
        """The tool the model calls ``name``, if a connected server has it."""
        return self._by_name.get(name)

    def tools(self) -> list[McpTool]:
        """Every tool on offer, by name."""
        return [self._by_name[name] for name in sorted(self._by_name)]

    def policies(self) -> list[ToolPolicy]:
        """How the workflow runs each tool on offer (what a turn records and offers)."""
        return [tool_policy(tool) for tool in self.tools()]

    def _rebuild(self) -> None:
        # A new dict swapped in whole: a reader never sees one half-updated.
        self._by_name = {n: t for named in self._by_server.values() for n, t in named.items()}
