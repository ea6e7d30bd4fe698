"""``McpServer``: a Model Context Protocol server whose tools the agent may call.

Declared in the agent module (``Agent(mcp=[McpServer(...)])``) or in ``TOOLS_FILE``::

    [[mcp]]
    name = "shop"                               # namespaces its tools: shop__lookup_order
    url = "http://127.0.0.1:9000/mcp"           # Streamable HTTP; or:
    # command = ["python", "-m", "shop_server"] # stdio, started and kept by the process
    headers = { Authorization = "Bearer ${SHOP_TOKEN}" }
    tools = ["lookup_order", "cancel_order"]    # optional allow-list
    timeout = "10s"
    customer_argument = "customer"              # or customer_header = "X-Customer"

``${VAR}`` in ``headers`` and ``env`` is read from the environment when the process starts
(``resolved_headers``); a variable that is unset is an error then, never an empty header.
The configuration itself holds only the references, so printing it never shows a secret.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

from switchboard.agent.function_tool import ALL_CHANNELS
from switchboard.contract.addresses import Channel
from switchboard.runtime.durations import parse_duration

SEPARATOR = "__"
"""Between a server's name and its tool's in the name the model sees (``shop__lookup_order``).

No built-in tool's name holds it, and a server's name may not, so a namespaced name can
belong to one server only."""

DEFAULT_MCP_TIMEOUT = 10.0
MAX_NAME_CHARS = 24
"""A server's name is a prefix of every tool name, and those must fit in 64 characters."""
_SERVER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,23}(?:_[a-zA-Z0-9-]+)*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_ARGUMENT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_ENTRIES = 50


class MissingSecret(ValueError):
    """A ``${VAR}`` an MCP server's headers or environment use is not set."""


def _seconds(value: Any) -> Any:
    """``"10s"``, ``"500ms"``, ``"1m"`` or a number of seconds, as seconds."""
    if isinstance(value, str):
        return parse_duration(value).total_seconds()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _command(value: Any) -> Any:
    """A command given as one string is split on spaces (a list keeps arguments with spaces)."""
    return value.split() if isinstance(value, str) else value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0, le=600)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class McpServer:
    """An MCP server: where it is (``url`` or ``command``), and which of its tools to offer.

    Every allowed tool becomes a tool named ``<name>__<tool>``. Calls get ``timeout`` per
    attempt; they are retried only when the server annotates the tool ``readOnlyHint`` or
    ``idempotentHint`` (other calls run at most once). ``customer_argument`` (an argument
    the server's tool takes) or ``customer_header`` (Streamable HTTP only) carries the
    caller's E.164 number: the model never sees or sets it.
    """

    name: str
    url: str | None = None
    """A Streamable HTTP endpoint, e.g. ``https://mcp.example.com/mcp``."""
    command: Annotated[list[str] | None, BeforeValidator(_command)] = None
    """A stdio server: the program and its arguments; the process starts it and keeps it."""
    env: dict[str, str] = Field(default_factory=dict)
    """More environment for a stdio server (``${VAR}`` allowed)."""
    cwd: str | None = None
    """The working directory of a stdio server."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers of every HTTP request (``${VAR}`` allowed)."""
    tools: list[str] | None = None
    """Only these of the server's tools (by the server's names); None: all of them."""
    timeout: Seconds = DEFAULT_MCP_TIMEOUT
    """Seconds one call may take."""
    retries: int = Field(default=2, ge=0, le=5)
    """Attempts after a failed first one, for read-only and idempotent tools only."""
    customer_argument: str | None = None
    customer_header: str | None = None
    channels: tuple[Channel, ...] = ALL_CHANNELS
    """The channels whose turns offer the server's tools."""

    @model_validator(mode="after")
    def _check(self) -> McpServer:
        if (
            not _SERVER_NAME.match(self.name)
            or SEPARATOR in self.name
            or len(self.name) > MAX_NAME_CHARS
        ):
            raise ValueError(
                f"MCP server name {self.name!r} must be 1-24 letters, digits, '-' or single "
                "'_', starting with a letter"
            )
        if (self.url is None) == (self.command is None):
            raise ValueError(f"MCP server {self.name!r}: give either url or command")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCP server {self.name!r}: url must be http:// or https://")
        if self.command is not None and not self.command:
            raise ValueError(f"MCP server {self.name!r}: command is empty")
        if self.command is not None and (self.headers or self.customer_header):
            raise ValueError(
                f"MCP server {self.name!r}: headers and customer_header need a url (HTTP)"
            )
        if self.url is not None and (self.env or self.cwd):
            raise ValueError(f"MCP server {self.name!r}: env and cwd are for a stdio command")
        for header in (*self.headers, *([self.customer_header] if self.customer_header else [])):
            if not _HEADER_NAME.match(header):
                raise ValueError(f"MCP server {self.name!r}: {header!r} is not a header name")
        if self.customer_header and self.customer_header.lower() in {
            h.lower() for h in self.headers
        }:
            raise ValueError(f"MCP server {self.name!r}: customer_header is also in headers")
        if self.customer_argument and not _ARGUMENT_NAME.match(self.customer_argument):
            raise ValueError(f"MCP server {self.name!r}: customer_argument must be a name")
        if len(self.headers) > _MAX_ENTRIES or len(self.env) > _MAX_ENTRIES:
            raise ValueError(f"MCP server {self.name!r}: too many headers or env entries")
        return self

    @property
    def transport(self) -> str:
        """``"http"`` or ``"stdio"``."""
        return "http" if self.url is not None else "stdio"

    def allows(self, tool: str) -> bool:
        """Whether the server's tool of that name is offered (the allow-list)."""
        return self.tools is None or tool in self.tools

    def resolved_headers(self) -> dict[str, str]:
        """``headers`` with each ``${VAR}`` replaced from the environment.

        Raises:
            MissingSecret: a variable is unset or empty.
        """
        return {key: self._expand(value) for key, value in self.headers.items()}

    def resolved_env(self) -> dict[str, str]:
        """``env`` with each ``${VAR}`` replaced from the environment.

        Raises:
            MissingSecret: a variable is unset or empty.
        """
        return {key: self._expand(value) for key, value in self.env.items()}

    def secret_values(self) -> list[str]:
        """What the ``${VAR}`` of ``headers`` and ``env`` stand for now, longest first.

        Never sent anywhere: the connection takes them out of what the server sends back.
        Values under 6 characters are left out (no credential is that short, and taking
        ``42`` out of every result would garble order numbers).
        """
        texts = (*self.headers.values(), *self.env.values())
        names = {match.group(1) for text in texts for match in _VARIABLE.finditer(text)}
        found = {value for name in names if len(value := os.environ.get(name, "")) >= 6}
        return sorted(found, key=len, reverse=True)

    def check_secrets(self) -> None:
        """Raise ``MissingSecret`` now if a ``${VAR}`` is missing (called at start-up)."""
        self.resolved_headers()
        self.resolved_env()

    def _expand(self, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            variable = match.group(1)
            found = os.environ.get(variable)
            if not found:
                raise MissingSecret(
                    f"MCP server {self.name!r}: the environment variable {variable} is not set"
                )
            return found

        return _VARIABLE.sub(one, value)
