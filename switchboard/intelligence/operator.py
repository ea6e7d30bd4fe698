"""``Operator``: one analysis of a conversation, declared once, run beside it.

An operator has a name (the key its results are stored and read under), a version (a new
version is a new result, so a changed prompt never overwrites what the old one found), when
it runs (on customer turns, every N of them, and/or at close), and whether it wants the
customer's memory or knowledge as context. ``run`` reads an ``OperatorContext`` and answers
an ``OperatorOutput``; failing is raising (``OperatorError`` for an expected failure), which
the ``Analyzer`` turns into an error result.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from switchboard.contract.intelligence import (
    AnalysisLine,
    AnalysisRequest,
    Evidence,
    OperatorPolicy,
    OperatorTrigger,
)

if TYPE_CHECKING:
    from switchboard.intelligence.model import StructuredModel

OPERATOR_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""Operator names: also the ``json_schema`` name sent to the model, which allows just these."""
DEFAULT_TIMEOUT = 90.0
"""Seconds one operator may take over one request, model retries included: under the
``analyze_conversation`` activity's 120 s, so a hung model ends as an error result rather
than as a timed-out activity that Temporal runs again."""

Triggers = str | Sequence[str]
"""``"turn"``, ``"close"`` or both (``["turn", "close"]``)."""


class OperatorError(Exception):
    """An operator could not produce a result; what it spent on the model is kept.

    Args:
        message: what went wrong, as stored in the result's ``error``.
        model: the model that was asked, if one was.
        tokens: tokens spent on the failed attempts.
    """

    def __init__(self, message: str, *, model: str | None = None, tokens: int = 0) -> None:
        super().__init__(message)
        self.model = model
        self.tokens = tokens


@dataclass(frozen=True)
class OperatorContext:
    """What an operator reads: the request, the model (None: offline) and recalled context."""

    request: AnalysisRequest
    model: StructuredModel | None = None
    memory: str = ""
    """What memory knows of the customer (only for operators that want memory)."""
    knowledge: str = ""
    """Knowledge passages relevant to the conversation (only for those that want knowledge)."""

    @property
    def transcript(self) -> list[AnalysisLine]:
        """The lines to analyse, oldest first."""
        return self.request.transcript

    def lines(self, *roles: str) -> list[AnalysisLine]:
        """The lines said by any of ``roles`` (all lines when none are given)."""
        return [line for line in self.transcript if not roles or line.role in roles]


@dataclass
class OperatorOutput:
    """What one operator run found, before the ``Analyzer`` stamps it into a result."""

    result: dict[str, JsonValue]
    evidence: list[Evidence] = field(default_factory=list)
    model: str | None = None
    """The model that answered; None for an offline or deterministic run."""
    tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class Operator(ABC):
    """An analysis of conversations. Subclasses implement ``run`` (and ``definition``).

    Raises:
        ValueError: an invalid name, trigger, ``every`` or ``timeout``.
    """

    name: str
    on: Triggers = "close"
    """When it runs: ``"turn"`` (after customer turns), ``"close"``, or both."""
    every: int = 1
    """On turns: every N customer turns."""
    wants_memory: bool = False
    wants_knowledge: bool = False
    version: str = ""
    """Empty: derived from a hash of ``definition()``, so a changed definition is a new version."""
    timeout: float = DEFAULT_TIMEOUT
    _triggers: frozenset[OperatorTrigger] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not OPERATOR_NAME.match(self.name):
            raise ValueError(f"operator name {self.name!r} must be 1-64 letters, digits, '_', '-'")
        object.__setattr__(self, "_triggers", _triggers(self.name, self.on))
        if self.every < 1:
            raise ValueError(f"operator {self.name!r}: every must be at least 1")
        if self.timeout <= 0:
            raise ValueError(f"operator {self.name!r}: timeout must be > 0")
        if not self.version:
            object.__setattr__(self, "version", definition_hash(self.definition()))

    @property
    def on_turn(self) -> bool:
        """Whether it runs after customer turns (every ``every``)."""
        return OperatorTrigger.TURN in self._triggers

    @property
    def on_close(self) -> bool:
        """Whether it runs when the conversation closes."""
        return OperatorTrigger.CLOSE in self._triggers

    def policy(self) -> OperatorPolicy:
        """When the workflow asks for it, as the conversation carries it."""
        return OperatorPolicy(
            name=self.name, on_turn=self.on_turn, every=self.every, on_close=self.on_close
        )

    def definition(self) -> dict[str, Any]:
        """What the operator does, as JSON-able data: its default version hashes this."""
        return {"kind": type(self).__name__}

    @abstractmethod
    async def run(self, context: OperatorContext) -> OperatorOutput:
        """Analyse ``context.transcript``.

        Raises:
            OperatorError: no result (any other exception counts as one too).
        """


def definition_hash(definition: dict[str, Any]) -> str:
    """A short, stable hash of an operator's definition."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _triggers(name: str, on: Triggers) -> frozenset[OperatorTrigger]:
    values = [on] if isinstance(on, str) else list(on)
    allowed = (OperatorTrigger.TURN, OperatorTrigger.CLOSE)
    if not values or any(value not in allowed for value in values):
        raise ValueError(f"operator {name!r}: on must be 'turn', 'close' or both, not {on!r}")
    return frozenset(OperatorTrigger(value) for value in values)
