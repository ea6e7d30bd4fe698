"""Reading and checking intelligence rules: ``INTELLIGENCE_FILE``'s ``rules`` and the agent's.

A rule (``switchboard.contract.rules.IntelligenceRule``) is checked twice: on its own when
it is read (its conditions, triggers and actions), then against the operators the worker
runs (``check_rules``): its name is unique, its operator exists and runs on at least one of
the rule's triggers. Every problem is a ``RuleError`` naming the rule; the loader turns it
into the one start-up error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from switchboard.contract.intelligence import OperatorTrigger
from switchboard.contract.rules import MAX_RULES, IntelligenceRule
from switchboard.intelligence.operator import Operator


class RuleError(ValueError):
    """A rule that cannot be used; the message names it."""


def parse_rules(section: Any) -> list[IntelligenceRule]:
    """The rules of a file's ``rules`` section: ``[rules.<name>]`` tables or ``[[rules]]``.

    An entry with ``enabled = false`` is left out.

    Raises:
        RuleError: the section or an entry is malformed.
    """
    rules = []
    for entry in _entries(section):
        name = entry["name"]
        enabled = entry.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise RuleError(f"rule {name!r}: enabled must be true or false")
        try:
            rule = IntelligenceRule.model_validate(entry)
        except ValidationError as exc:
            raise RuleError(f"rule {name!r}: {_problems(exc)}") from exc
        if enabled:
            rules.append(rule)
    return rules


def check_rules(
    rules: Iterable[tuple[IntelligenceRule, str]], operators: Sequence[Operator]
) -> None:
    """Check rules, each with where it was declared, against the operators that run.

    Raises:
        RuleError: two rules share a name, a rule watches an operator that does not run
            (unknown, or turned off) or never on the rule's triggers, or there are too many.
    """
    by_name = {operator.name: operator for operator in operators}
    seen: dict[str, str] = {}
    for rule, source in rules:
        where = f"rule {rule.name!r} ({source})"
        if rule.name in seen:
            raise RuleError(f"two rules are named {rule.name!r} ({seen[rule.name]} and {source})")
        seen[rule.name] = source
        operator = by_name.get(rule.operator)
        if operator is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise RuleError(
                f"{where}: unknown operator {rule.operator!r} (running: {known}); a built-in "
                "that is turned off counts as unknown"
            )
        runs = {str(t) for t in (OperatorTrigger.TURN, OperatorTrigger.CLOSE) if _runs(operator, t)}
        if not runs & set(rule.on):
            raise RuleError(
                f"{where}: {rule.operator!r} never runs on {' or '.join(rule.on)} "
                f"(it runs on {' and '.join(sorted(runs)) or 'no trigger'})"
            )
    if len(seen) > MAX_RULES:
        raise RuleError(f"{len(seen)} rules: at most {MAX_RULES}")


def _runs(operator: Operator, trigger: OperatorTrigger) -> bool:
    return operator.on_turn if trigger is OperatorTrigger.TURN else operator.on_close


def _entries(section: Any) -> list[dict[str, Any]]:
    """The entries of the ``rules`` section, each a fresh dict with its ``name``."""
    if isinstance(section, dict):  # the table form: [rules.<name>]
        entries = []
        for name, entry in section.items():
            if not isinstance(entry, dict):
                raise RuleError(f"rule {name!r} must be a table")
            if entry.get("name", name) != name:
                raise RuleError(f"rule {name!r} is named differently")
            entries.append({**entry, "name": name})
        return entries
    if not isinstance(section, list):
        raise RuleError("'rules' must be tables ([rules.<name>]) or a list of them ([[rules]])")
    for index, entry in enumerate(section):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise RuleError(f"rule #{index + 1} needs a name")
    return [dict(entry) for entry in section]


def _problems(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{loc}: {message}" if loc else message)
    return "; ".join(problems[:5])
