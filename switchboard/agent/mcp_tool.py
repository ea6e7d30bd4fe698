"""``McpTool``: one tool an MCP server listed, as a function tool the model can call.

The model sees the server's description and input schema under a namespaced name
(``shop__lookup_order``); its arguments are validated against that schema here, before any
request, so bad arguments come back to the model as an error like any other tool's. The
caller's number, when the server wants it, is filled in by the runtime and removed from
what the model sees.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.context import BoundCall, ToolContext
from switchboard.agent.mcp_server import SEPARATOR, McpServer
from switchboard.agent.schema import (
    TOOL_NAME,
    check_schema,
    function_schema,
    json_object,
    without_titles,
)
from switchboard.contract.addresses import Channel

MAX_DESCRIPTION_CHARS = 1024
"""A longer description is cut: it goes into every prompt that offers the tool."""
MAX_SCHEMA_CHARS = 16_000
"""A tool whose input schema is longer than this (as JSON) is not offered."""
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


class McpCaller(Protocol):
    """What runs a call on the server: the server's connection."""

    async def call(self, tool: str, arguments: dict[str, Any], customer: str) -> str:
        """Call the server's tool ``tool``; the result as text for the model."""


class UnusableTool(ValueError):
    """A listed tool that cannot be offered (an invalid or oversized schema)."""


def namespaced(server: str, tool: str) -> str:
    """The name the model calls a server's tool by: ``<server>__<tool>``, within its name rule.

    A name that had to change (characters the model's API refuses, or too long) gets a
    short hash of the original, so two tools of one server never end up with the same name.
    """
    raw = f"{server}{SEPARATOR}{tool}"
    safe = _UNSAFE.sub("_", raw)
    if safe == raw and TOOL_NAME.match(raw):
        return raw
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{safe[: 64 - len(digest) - 1]}_{digest}"


@dataclass(frozen=True)
class McpTool:
    """A tool of an MCP server, offered to the model (see the module docstring)."""

    server: McpServer
    remote_name: str
    """The tool's name on the server."""
    description: str
    parameters: dict[str, Any]
    """The JSON schema the model sees (the server's, without the customer argument)."""
    read_only: bool
    idempotent: bool
    caller: McpCaller = field(repr=False, compare=False)
    takes_customer: bool = True
    """Whether a call carries the server's ``customer_argument``: not to a tool whose schema
    neither declares it nor admits other arguments (the server would refuse every call)."""
    name: str = field(init=False)
    _validator: Draft202012Validator = field(init=False, repr=False, compare=False)
    _schema: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", namespaced(self.server.name, self.remote_name))
        object.__setattr__(self, "_validator", Draft202012Validator(self.parameters))
        object.__setattr__(
            self, "_schema", function_schema(self.name, self.description, self.parameters)
        )

    @classmethod
    def from_listing(
        cls,
        server: McpServer,
        caller: McpCaller,
        *,
        name: str,
        description: str | None,
        input_schema: Mapping[str, Any],
        read_only: bool,
        idempotent: bool,
    ) -> McpTool:
        """The tool as the server listed it.

        Raises:
            UnusableTool: its schema is not a valid JSON schema of an object, or too long.
        """
        parameters = dict(input_schema)
        if parameters.get("type") != "object":
            raise UnusableTool(f"{name}: the input schema is not of type object")
        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as exc:
            raise UnusableTool(f"{name}: invalid input schema: {exc.message}") from exc
        if len(json.dumps(parameters)) > MAX_SCHEMA_CHARS:
            raise UnusableTool(f"{name}: the input schema is over {MAX_SCHEMA_CHARS} characters")
        parameters = without_titles(parameters)  # pydantic-made servers add them: noise
        parameters.pop("description", None)
        takes_customer = False
        if argument := server.customer_argument:
            declared = argument in (parameters.get("properties") or {})
            takes_customer = declared or parameters.get("additionalProperties", True) is not False
            parameters = _without(parameters, argument)
        text = (description or "").strip() or f"The {name} tool of {server.name}."
        return cls(
            server=server,
            remote_name=name,
            description=text[:MAX_DESCRIPTION_CHARS],
            parameters=parameters,
            read_only=read_only,
            idempotent=idempotent,
            caller=caller,
            takes_customer=takes_customer,
        )

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take: the server's ``timeout``."""
        return self.server.timeout

    @property
    def retries(self) -> int:
        """The server's ``retries`` for read-only or idempotent tools; 0 for the others.

        A call that changes something (cancel an order) must not run twice because the
        first attempt's answer was lost: the customer would hear of one cancellation and
        get two.
        """
        return self.server.retries if self.read_only or self.idempotent else 0

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels whose turns offer it: the server's."""
        return self.server.channels

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema (shared: do not modify it)."""
        return self._schema

    def bind(self, arguments: str) -> BoundCall:
        """Validate the model's JSON arguments; the result calls the server's tool.

        Raises:
            InvalidToolArguments: not a JSON object, not valid against the server's schema,
                or it sets the customer argument.
        """
        values = json_object(self.name, arguments)
        argument = self.server.customer_argument
        if argument and argument in values:
            raise InvalidToolArguments(
                f"{self.name}: {argument}: not an argument: the conversation sets it"
            )
        check_schema(self.name, self._validator, values, message_chars=200)
        takes = self.takes_customer

        async def call(context: ToolContext) -> object:
            sent = values | {argument: context.customer} if argument and takes else values
            return await self.caller.call(self.remote_name, sent, context.customer)

        return call


def _without(schema: dict[str, Any], argument: str) -> dict[str, Any]:
    """The schema without one property (and out of ``required``)."""
    properties = {k: v for k, v in schema.get("properties", {}).items() if k != argument}
    trimmed = schema | {"properties": properties}
    if "required" in schema:
        trimmed["required"] = [name for name in schema["required"] if name != argument]
    return trimmed
