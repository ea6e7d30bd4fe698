"""What every built-in operator shares: version "1", a fixed prompt and schema, a fallback."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from switchboard.intelligence.generative import GenerativeOperator
from switchboard.intelligence.model import strict_schema, with_evidence
from switchboard.intelligence.operator import OperatorContext, OperatorOutput

BUILTIN_VERSION = "1"


@dataclass(frozen=True, kw_only=True)
class BuiltinOperator(GenerativeOperator):
    """A built-in: the model answers ``SCHEMA``, or ``offline`` the same shape without one.

    The model's answer carries cited evidence besides the result's fields.
    """

    version: str = BUILTIN_VERSION
    INSTRUCTIONS: ClassVar[str]
    SCHEMA: ClassVar[dict[str, Any]]
    """The result's shape, as the model is asked for it."""

    def instructions(self) -> str:
        """``INSTRUCTIONS``."""
        return self.INSTRUCTIONS

    def answer_schema(self) -> dict[str, Any]:
        """``SCHEMA`` with evidence, made strict."""
        return strict_schema(with_evidence(self.SCHEMA))

    def definition(self) -> dict[str, Any]:
        """A built-in is defined by its name (its version is given)."""
        return {"kind": "builtin", "name": self.name}

    @abstractmethod
    async def offline(self, context: OperatorContext) -> OperatorOutput:
        """The deterministic result, used when no model is configured."""


def enum(*values: str) -> dict[str, Any]:
    """A string schema of one of ``values``."""
    return {"type": "string", "enum": list(values)}


def string_list() -> dict[str, Any]:
    """An array-of-strings schema."""
    return {"type": "array", "items": {"type": "string"}}
