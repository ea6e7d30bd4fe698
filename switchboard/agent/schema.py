"""Pieces every agent tool shares: its name rule, its schema's shape, reading the model's JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from pydantic import ValidationError

from switchboard.agent.builtins import InvalidToolArguments
from switchboard.contract.addresses import Channel
from switchboard.contract.tools import ToolPolicy

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""What OpenAI-compatible endpoints accept as a function name."""

_MAX_ERRORS = 5

_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SUBSCHEMA_LIST_KEYS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAP_KEYS = ("properties", "$defs", "definitions", "patternProperties")


def check_name(name: str) -> str:
    """The tool name, if the model's endpoint will accept it.

    Raises:
        ValueError: not 1-64 letters, digits, ``_`` or ``-``.
    """
    if not TOOL_NAME.match(name):
        raise ValueError(f"tool name {name!r} must be 1-64 letters, digits, '_' or '-'")
    return name


def without_titles(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without the ``title`` keywords pydantic adds (noise in every prompt).

    Only keywords are removed: a property that happens to be called ``title`` stays.
    """
    cleaned = {key: value for key, value in schema.items() if key != "title"}
    for key in _SUBSCHEMA_KEYS:
        if isinstance(cleaned.get(key), dict):
            cleaned[key] = without_titles(cleaned[key])
    for key in _SUBSCHEMA_LIST_KEYS:
        if isinstance(cleaned.get(key), list):
            cleaned[key] = [without_titles(s) if isinstance(s, dict) else s for s in cleaned[key]]
    for key in _SUBSCHEMA_MAP_KEYS:
        if isinstance(cleaned.get(key), dict):
            cleaned[key] = {
                name: without_titles(s) if isinstance(s, dict) else s
                for name, s in cleaned[key].items()
            }
    return cleaned


def function_schema(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function-tool schema."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def json_object(tool: str, arguments: str) -> dict[str, Any]:
    """The model's arguments as a JSON object ("" counts as ``{}``).

    Raises:
        InvalidToolArguments: not JSON, or not an object.
    """
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidToolArguments(f"{tool}: the arguments are not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise InvalidToolArguments(f"{tool}: the arguments must be a JSON object")
    return value


def describe(tool: str, error: ValidationError) -> InvalidToolArguments:
    """A validation failure as one short line per problem, the way a model can fix it."""
    problems = [
        f"{'.'.join(str(part) for part in e['loc']) or 'arguments'}: {e['msg']}"
        for e in error.errors(include_url=False)
    ]
    if len(problems) > _MAX_ERRORS:
        problems = [*problems[:_MAX_ERRORS], f"and {len(problems) - _MAX_ERRORS} more"]
    return InvalidToolArguments(f"{tool}: {'; '.join(problems)}")


def check_schema(
    tool: str,
    validator: Draft202012Validator,
    values: dict[str, Any],
    *,
    message_chars: int | None = None,
) -> None:
    """Refuse ``values`` that break the tool's JSON schema, naming the first problems.

    ``message_chars``: cut each problem's message (a schema from someone else's server
    can make them long).

    Raises:
        InvalidToolArguments: one short line per problem, at most five, by path.
    """
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.path))
    if errors:
        problems = [
            f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message[:message_chars]}"
            for e in errors[:_MAX_ERRORS]
        ]
        raise InvalidToolArguments(f"{tool}: {'; '.join(problems)}")


class _Policed(Protocol):
    """What the workflow needs to know to run a tool: every kind of tool has it."""

    @property
    def name(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def retries(self) -> int: ...
    @property
    def channels(self) -> Collection[Channel]: ...


def tool_policy(tool: _Policed) -> ToolPolicy:
    """How the workflow runs ``tool`` (its timeout, attempts and channels)."""
    return ToolPolicy(
        name=tool.name,
        timeout_seconds=tool.timeout,
        max_attempts=tool.retries + 1,
        channels=list(tool.channels),
    )
