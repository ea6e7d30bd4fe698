"""Read a tool's description, and its arguments' descriptions, from a Google-style docstring."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^(\w[\w ]*):\s*$")
_ARGS_SECTIONS = {"args", "arguments", "parameters", "params"}
_ARGUMENT = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass
class Docstring:
    """The parts of a docstring a tool schema uses."""

    summary: str = ""
    """The first paragraph, as one line."""
    arguments: dict[str, str] = field(default_factory=dict)
    """Each documented argument's description, as one line."""


def parse(doc: str | None) -> Docstring:
    """The summary and the ``Args:`` section of a docstring (empty parts when absent)."""
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line):
            break
        summary.append(line.strip())
    return Docstring(summary=" ".join(summary), arguments=_arguments(lines))


def _arguments(lines: list[str]) -> dict[str, str]:
    """Descriptions from the ``Args:`` section: ``name (type): text``, continued when indented."""
    arguments: dict[str, str] = {}
    inside = False
    current: str | None = None
    indent = 0
    for line in lines:
        header = _SECTION.match(line)
        if header and not line[:1].isspace():
            inside = header.group(1).lower() in _ARGS_SECTIONS
            current = None
            continue
        if not inside:
            continue
        if line.strip() and not line[:1].isspace():
            inside = False  # back at the left margin: the section is over
            continue
        stripped = line.strip()
        depth = len(line) - len(line.lstrip())
        entry = _ARGUMENT.match(stripped)
        if entry and (current is None or depth <= indent):
            current, indent = entry.group(1).lstrip("*"), depth
            arguments[current] = entry.group(2).strip()
        elif current is not None and stripped:
            arguments[current] = f"{arguments[current]} {stripped}".strip()
    return arguments
