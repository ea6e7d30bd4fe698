"""Find the agent a process runs: ``AGENT`` (a Python attribute) plus ``TOOLS_FILE``.

Both are read at start-up, and anything wrong with them stops the process with one clear
``AgentConfigError`` rather than surfacing on the first customer message.

``TOOLS_FILE`` is TOML (``.toml``) or JSON (``.json``): HTTP tools under ``tools`` (each
entry takes ``HttpTool``'s fields) and MCP servers under ``mcp`` (``McpServer``'s fields)::

    [[tools]]
    name = "order_status"
    description = "Where an order is."
    url = "https://api.example.com/customers/{customer}/orders/{order_id}"
    auth_env = "ORDERS_API_TOKEN"   # sends "Authorization: Bearer $ORDERS_API_TOKEN"
    customer_header = "X-Customer"  # the caller's number, also what {customer} holds
    parameters = { type = "object", required = ["order_id"], properties = { order_id = { type = "string" } } }

    [[mcp]]
    name = "shop"
    url = "https://mcp.example.com/mcp"
    headers = { Authorization = "Bearer ${SHOP_TOKEN}" }  # from the environment, at start

A ``${VAR}`` an MCP server needs that is not set stops the process here.
"""  # noqa: E501

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from switchboard.agent.definition import Agent
from switchboard.agent.http_tool import HttpTool
from switchboard.agent.mcp_server import McpServer, MissingSecret
from switchboard.runtime.config import Settings
from switchboard.runtime.config_files import ConfigFileError, parse_table

DEFAULT_AGENT_NAME = "assistant"

T = TypeVar("T")
_HTTP_TOOL = TypeAdapter(HttpTool)
_MCP_SERVER = TypeAdapter(McpServer)


class AgentConfigError(Exception):
    """``AGENT`` or ``TOOLS_FILE`` cannot be loaded; the process must not start."""


def load_agent(settings: Settings) -> Agent:
    """The agent ``AGENT`` names (or the default one), with the tools of ``TOOLS_FILE``.

    Raises:
        AgentConfigError: the module or attribute is missing or broken, it is not an
            ``Agent``, the tools file is unreadable or invalid, tool or server names
            clash, or an MCP server's ``${VAR}`` is not set.
    """
    agent = import_agent(settings.agent) if settings.agent else default_agent(settings)
    if settings.tools_file:
        tools = load_tools_file(settings.tools_file)
        servers = load_mcp_servers(settings.tools_file)
        try:
            agent = agent.with_tools(tools).with_mcp(servers)
        except ValueError as exc:
            raise AgentConfigError(f"TOOLS_FILE={settings.tools_file}: {exc}") from exc
    for server in agent.mcp:
        try:
            server.check_secrets()
        except MissingSecret as exc:
            raise AgentConfigError(str(exc)) from exc
    return agent


def default_agent(settings: Settings) -> Agent:
    """The agent when ``AGENT`` is unset: ``AGENT_INSTRUCTIONS``, ``LLM_MODEL``, ``VOICE_*``."""
    return Agent(name=DEFAULT_AGENT_NAME, instructions=settings.agent_instructions)


def import_agent(spec: str) -> Agent:
    """The ``Agent`` at ``module:attribute`` (``module`` alone means ``module:agent``).

    The attribute may be an ``Agent`` or a function of no arguments returning one.

    Raises:
        AgentConfigError: see ``load_agent``.
    """
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or "agent"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # whatever the module raises, the process cannot start
        raise AgentConfigError(
            f"AGENT={spec}: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise AgentConfigError(f"AGENT={spec}: {module_name!r} has no attribute {attribute!r}")
        value = getattr(value, part)
    if not isinstance(value, Agent) and callable(value):
        try:
            value = value()
        except Exception as exc:
            raise AgentConfigError(
                f"AGENT={spec}: {attribute}() failed: {type(exc).__name__}: {exc}"
            ) from exc
    if not isinstance(value, Agent):
        raise AgentConfigError(
            f"AGENT={spec}: expected an Agent or a function returning one, "
            f"got {type(value).__name__}"
        )
    return value


def load_tools_file(path: str | Path) -> list[HttpTool]:
    """The HTTP tools a TOML or JSON file declares under ``tools``.

    Raises:
        AgentConfigError: unreadable, not TOML/JSON, or an entry that is not a valid tool.
    """
    return _entries(Path(path), "tools", _HTTP_TOOL, "tool")


def load_mcp_servers(path: str | Path) -> list[McpServer]:
    """The MCP servers a TOML or JSON file declares under ``mcp``.

    Raises:
        AgentConfigError: unreadable, not TOML/JSON, or an entry that is not a valid server.
    """
    return _entries(Path(path), "mcp", _MCP_SERVER, "MCP server")


def _entries(path: Path, key: str, adapter: TypeAdapter[T], kind: str) -> list[T]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgentConfigError(f"TOOLS_FILE={path}: {exc.strerror or exc}") from exc
    data = _parse(path, text)
    entries = data.get(key, [])
    if not isinstance(entries, list) or set(data) - {"tools", "mcp"}:
        raise AgentConfigError(
            f"TOOLS_FILE={path}: expected only a list of tools under 'tools' "
            "and of MCP servers under 'mcp'"
        )
    found: list[T] = []
    for index, entry in enumerate(entries):
        label = entry.get("name", f"#{index + 1}") if isinstance(entry, dict) else f"#{index + 1}"
        try:
            found.append(adapter.validate_python(entry))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or kind}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise AgentConfigError(f"TOOLS_FILE={path}: {kind} {label}: {problems}") from exc
    return found


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return parse_table(path, text, "tools")
    except ConfigFileError as exc:
        raise AgentConfigError(f"TOOLS_FILE={path}: {exc}") from exc
