"""The operators a worker runs: the built-ins, the agent's own, and ``INTELLIGENCE_FILE``'s.

The file is TOML (``.toml``) or JSON (``.json``), for people who do not write Python. Under
``operator``, a table per operator keyed by its name; a built-in's name without a ``kind``
configures that built-in, any other entry declares an operator of that ``kind``::

    [operator.topic]                 # a built-in: labels, on, every, version, enabled
    labels = ["billing", "shipping", "returns"]

    [operator.memory]
    enabled = false

    [operator.adherence]             # off unless a script is given
    script = '''
    Opening:
    - greeting: Greets the customer and says the business's name
    '''

    [operator.billing_intent]        # kinds: text, classification, json
    kind = "classification"
    prompt = "Why is the customer contacting {company} about billing?"
    parameters = { company = "Acme" }
    labels = ["refund", "double_charge", "invoice", "other"]
    on = "turn"                      # "turn", "close" (the default) or both: ["turn", "close"]
    every = 2

    [operator.cancel_words]          # kinds: phrases (fuzzy = true or 0..1), regex, pii
    kind = "phrases"
    phrases = ["cancel my subscription", "close my account"]
    fuzzy = true

Under ``rules``, a table per rule keyed by its name: when one operator's result meets every
condition on a trigger, the rule acts (``switchboard.contract.rules`` defines it all)::

    [rules.angry_customer]
    operator = "sentiment"
    when = { field = "label", equals = "negative" }   # or a list: all must hold
    on = "turn"                      # "turn", "close" or both (the default)
    actions = [{ type = "webhook", url = "https://example.com/hooks/angry" }, "handoff"]
    cooldown_turns = 5               # unset: at most once per conversation

    [rules.churn_risk]
    operator = "cancel_words"
    when = { field = "matched", equals = true }
    actions = [{ type = "tag", label = "churn-risk" }, "do_not_contact"]

Conditions: ``equals``, ``one_of`` or numeric bounds ``lt``, ``lte``, ``gt``, ``gte`` on a
dotted ``field`` of the result. Actions: ``handoff`` (optional ``reason``), ``webhook``
(``url``; signed with ``INTELLIGENCE_WEBHOOK_SECRET``, which the worker then requires),
``tag`` (``label``), ``do_not_contact``. A rule's operator must run (a built-in turned off
does not) on at least one of its triggers.

The array forms (``[[operator]]``, ``[[rules]]`` with a ``name`` in each) work too; the two
forms of one section cannot be mixed in one TOML file. Anything wrong stops the process at
start-up with one ``IntelligenceConfigError`` naming the entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from switchboard.contract.rules import IntelligenceRule
from switchboard.intelligence.builtins import BUILTINS, DO_NOT_CONTACT_PHRASES, OPTIONS
from switchboard.intelligence.builtins import builtin_operators as make_builtins
from switchboard.intelligence.entries import CUSTOM_ENTRY, KINDS, BuiltinEntry
from switchboard.intelligence.operator import Operator
from switchboard.intelligence.rules import RuleError, check_rules, parse_rules
from switchboard.runtime.config import Settings
from switchboard.runtime.config_files import ConfigFileError, parse_table

if TYPE_CHECKING:
    from switchboard.agent.definition import Agent

_SECTIONS = frozenset({"operator", "rules"})


class IntelligenceConfigError(Exception):
    """``INTELLIGENCE_FILE`` or the operators cannot be loaded; the process must not start."""


@dataclass
class IntelligenceFile:
    """What an intelligence file declares: built-in settings, operators and rules of its own."""

    builtins: dict[str, dict[str, Any]] = field(default_factory=dict)
    operators: list[Operator] = field(default_factory=list)
    rules: list[IntelligenceRule] = field(default_factory=list)


def load_operators(settings: Settings, agent: Agent | None) -> list[Operator]:
    """The built-ins (those on), the agent's operators, then ``INTELLIGENCE_FILE``'s.

    No operators at all when ``INTELLIGENCE`` is off.

    Raises:
        IntelligenceConfigError: the file is unreadable or invalid, or two operators share
            a name.
    """
    if not settings.intelligence:
        return []
    declared = IntelligenceFile()
    if settings.intelligence_file is not None:
        declared = load_intelligence_file(settings.intelligence_file)
    label = f"INTELLIGENCE_FILE={settings.intelligence_file}"
    try:
        builtins = make_builtins(declared.builtins)
    except (TypeError, ValueError) as exc:
        raise IntelligenceConfigError(f"{label}: {exc}") from exc
    sources = [(op, "built-in") for op in builtins]
    if agent is not None:
        sources += [(op, f"agent {agent.name!r}") for op in agent.operators]
    sources += [(op, label) for op in declared.operators]
    seen: dict[str, str] = {}
    for operator, source in sources:
        if operator.name in seen:
            hint = (
                f"; turn the built-in off with [operator.{operator.name}] enabled = false"
                if operator.name in BUILTINS
                else ""
            )
            raise IntelligenceConfigError(
                f"two operators are named {operator.name!r} ({seen[operator.name]} and "
                f"{source}){hint}"
            )
        seen[operator.name] = source
    return [operator for operator, _ in sources]


def load_rules(
    settings: Settings, agent: Agent | None, operators: Sequence[Operator] | None = None
) -> list[IntelligenceRule]:
    """The agent's rules, then ``INTELLIGENCE_FILE``'s, checked against the operators.

    ``operators``: what ``load_operators`` gives (loaded here when not given). No rules when
    ``INTELLIGENCE`` is off.

    Raises:
        IntelligenceConfigError: the file is invalid, two rules share a name, or a rule
            watches an operator that does not run on its triggers.
    """
    if not settings.intelligence:
        return []
    if operators is None:
        operators = load_operators(settings, agent)
    declared = IntelligenceFile()
    if settings.intelligence_file is not None:
        declared = load_intelligence_file(settings.intelligence_file)
    label = f"INTELLIGENCE_FILE={settings.intelligence_file}"
    sources = [(rule, label) for rule in declared.rules]
    if agent is not None:
        sources = [(rule, f"agent {agent.name!r}") for rule in agent.rules] + sources
    try:
        check_rules(sources, operators)
    except RuleError as exc:
        raise IntelligenceConfigError(str(exc)) from exc
    return [rule for rule, _ in sources]


def webhook_secret(settings: Settings, rules: Sequence[IntelligenceRule]) -> str:
    """``INTELLIGENCE_WEBHOOK_SECRET``, which signs the rules' webhooks ("" when none posts).

    Raises:
        IntelligenceConfigError: a rule posts a webhook and the secret is not set.
    """
    secret = settings.intelligence_webhook_secret
    posting = [rule.name for rule in rules if rule.acts("webhook")]
    if posting and secret is None:
        raise IntelligenceConfigError(
            f"rule {posting[0]!r} posts a webhook: set INTELLIGENCE_WEBHOOK_SECRET (a secret of "
            "its own, never GATEWAY_API_KEY) to sign it"
        )
    return secret.get_secret_value() if secret is not None else ""


def load_intelligence_file(path: str | Path) -> IntelligenceFile:
    """The built-in settings, operators and rules a TOML or JSON file declares.

    Raises:
        IntelligenceConfigError: unreadable, not TOML/JSON, or an invalid entry.
    """
    path = Path(path)
    label = f"INTELLIGENCE_FILE={path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IntelligenceConfigError(f"{label}: {exc.strerror or exc}") from exc
    data = _parse(path, text, label)
    if unknown := sorted(set(data) - _SECTIONS):
        raise IntelligenceConfigError(
            f"{label}: unknown section {unknown[0]!r} (use 'operator' or 'rules')"
        )
    declared = IntelligenceFile()
    try:
        declared.rules = parse_rules(data.get("rules", []))
    except RuleError as exc:
        raise IntelligenceConfigError(f"{label}: {exc}") from exc
    for entry in _entries(data.get("operator", []), label):
        name = entry["name"]
        where = f"{label}: operator {name!r}"
        try:
            if name in BUILTINS and "kind" not in entry:
                declared.builtins[name] = _builtin_options(BuiltinEntry.model_validate(entry))
                continue
            if name in BUILTINS:
                raise ValueError(
                    f"{name!r} is a built-in operator: leave out `kind` to configure it, "
                    "or choose another name"
                )
            if "kind" not in entry:
                raise ValueError(
                    f"needs a kind ({', '.join(KINDS)}), or the name of a built-in "
                    f"({', '.join(BUILTINS)})"
                )
            declared_entry = CUSTOM_ENTRY.validate_python(entry)
            if declared_entry.enabled:
                declared.operators.append(declared_entry.build())
        except ValidationError as exc:
            raise IntelligenceConfigError(f"{where}: {_problems(exc)}") from exc
        except (TypeError, ValueError) as exc:
            # The operator's own message names it already; the file's label says where.
            message = str(exc).removeprefix(f"operator {name!r}: ")
            raise IntelligenceConfigError(f"{where}: {message}") from exc
    return declared


def _builtin_options(override: BuiltinEntry) -> dict[str, Any]:
    """The keyword options of a built-in, refusing those it does not take."""
    options = override.model_dump(exclude={"name"}, exclude_none=True)
    allowed = {"enabled", "on", "every", "version", "timeout", *OPTIONS.get(override.name, ())}
    if refused := sorted(set(options) - allowed):
        raise ValueError(f"{override.name} does not take {refused[0]!r}")
    if override.name == "do_not_contact" and "phrases" in options:
        options["phrases"] = [*DO_NOT_CONTACT_PHRASES, *options["phrases"]]  # added, not instead
    if override.name == "adherence" and "script" not in options and options.get("enabled"):
        raise ValueError("adherence needs a script")
    return options


def _entries(section: Any, label: str) -> list[dict[str, Any]]:
    """The entries of the ``operator`` section, each with its ``name``."""
    if isinstance(section, dict):  # the table form: [operator.<name>]
        entries = []
        for name, entry in section.items():
            if not isinstance(entry, dict):
                raise IntelligenceConfigError(f"{label}: operator {name!r} must be a table")
            if entry.get("name", name) != name:
                raise IntelligenceConfigError(f"{label}: operator {name!r} is named differently")
            entries.append({**entry, "name": name})
        return entries
    if not isinstance(section, list):
        raise IntelligenceConfigError(f"{label}: 'operator' must be tables or a list of them")
    for index, entry in enumerate(section):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise IntelligenceConfigError(f"{label}: operator #{index + 1} needs a name")
        if nested := [key for key in entry if key in BUILTINS and isinstance(entry[key], dict)]:
            # TOML puts [operator.topic] after [[operator]] inside the last list entry.
            raise IntelligenceConfigError(
                f"{label}: operator {entry['name']!r} holds a table {nested[0]!r}: after "
                f"[[operator]], write [[operator]] name = {nested[0]!r} rather than "
                f"[operator.{nested[0]}]"
            )
    return list(section)


def _parse(path: Path, text: str, label: str) -> dict[str, Any]:
    try:
        return parse_table(path, text, "operator")
    except ConfigFileError as exc:
        raise IntelligenceConfigError(f"{label}: {exc}") from exc


def _problems(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        if loc and loc[0] in KINDS:
            loc = loc[1:]  # the kind that was chosen, which the reader knows
        problems.append(f"{'.'.join(loc) or 'kind'}: {item['msg']}")
    return "; ".join(problems[:5])
