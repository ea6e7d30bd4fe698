"""The built-in operators: on by default, with the result shapes CONTRACT.md promises.

With a model each asks it through a strict JSON schema; without one each answers from
deterministic rules (``model`` None in its results), so intelligence works with no
credentials at all. ``do_not_contact`` is always deterministic; ``adherence`` runs only when
a script is configured.

Module map: ``base`` (what they share), ``realtime`` (sentiment, escalation, topic,
do_not_contact: on customer turns), ``closing`` (summary, outcome, pii, memory: at close),
``adherence`` (script adherence).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from switchboard.intelligence.builtins.adherence import Adherence, parse_script
from switchboard.intelligence.builtins.base import BUILTIN_VERSION, BuiltinOperator
from switchboard.intelligence.builtins.closing import Memory, Outcome, Pii, Summary
from switchboard.intelligence.builtins.realtime import (
    DO_NOT_CONTACT_PHRASES,
    DoNotContact,
    Escalation,
    Sentiment,
    Topic,
)
from switchboard.intelligence.operator import Operator

BUILTINS: dict[str, Callable[..., Operator]] = {
    "sentiment": Sentiment,
    "escalation": Escalation,
    "topic": Topic,
    "do_not_contact": DoNotContact,
    "summary": Summary,
    "outcome": Outcome,
    "pii": Pii,
    "memory": Memory,
    "adherence": Adherence,
}
"""Every built-in by name, in the order they are listed; each takes its options as keywords."""
ON_BY_DEFAULT = tuple(name for name in BUILTINS if name != "adherence")
OPTIONS: dict[str, frozenset[str]] = {
    "topic": frozenset({"labels"}),
    "do_not_contact": frozenset({"phrases"}),
    "adherence": frozenset({"script"}),
}
"""What each built-in takes besides ``on``, ``every``, ``version`` and ``timeout``."""


def builtin_operators(overrides: dict[str, dict[str, Any]] | None = None) -> list[Operator]:
    """The built-ins that are on, each made with its overrides.

    ``overrides`` maps a built-in's name to keyword options; ``enabled`` (default: on,
    ``adherence`` only with a ``script``) turns one on or off.

    Raises:
        ValueError: an unknown name, or options the built-in refuses.
        TypeError: an option the built-in does not take.
    """
    overrides = overrides or {}
    if unknown := sorted(set(overrides) - set(BUILTINS)):
        raise ValueError(f"{unknown[0]!r} is not a built-in operator")
    operators: list[Operator] = []
    for name, make in BUILTINS.items():
        options = dict(overrides.get(name, {}))
        if not options.pop("enabled", name in ON_BY_DEFAULT or "script" in options):
            continue
        operators.append(make(**options))
    return operators


__all__ = [
    "BUILTINS",
    "BUILTIN_VERSION",
    "DO_NOT_CONTACT_PHRASES",
    "ON_BY_DEFAULT",
    "OPTIONS",
    "Adherence",
    "BuiltinOperator",
    "DoNotContact",
    "Escalation",
    "Memory",
    "Outcome",
    "Pii",
    "Sentiment",
    "Summary",
    "Topic",
    "builtin_operators",
    "parse_script",
]
