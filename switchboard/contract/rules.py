"""Conversation-intelligence rules: when an operator's result says so, act.

A rule watches one operator's results on the triggers it names (``turn``, ``close`` or
both), tests them with conditions that must all hold, and then acts: hand the conversation
to a human, POST a signed webhook, tag the conversation, or stop contacting the customer.
Rules are declared in ``INTELLIGENCE_FILE`` (``[rules.<name>]``) or on the agent, carried in
the run's ``IntelligencePolicy`` and evaluated in the workflow, so they are plain data and
every test here is pure: the same result always gives the same answer.

A condition reads one value of the result by a dotted path (``label``, ``entities.0.type``)
and tests it with exactly one of ``equals``, ``one_of``, or numeric bounds (``lt``, ``lte``,
``gt``, ``gte``, which combine into a range). Comparisons keep JSON's types apart: ``true``
never equals ``1``, and ``"1"`` is not a number. A value the path does not reach fails the
condition.

A rule fires at most once per conversation (across continue-as-new) unless it has a
``cooldown_turns``: then it may fire again once that many customer turns have passed since
it last fired (``1``: on every matching turn). Never twice for one customer turn, so the
close analysis does not repeat what the last turn's analysis did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    field_validator,
    model_validator,
)

RULE_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
"""Rule names, like operator names: they are also part of webhook idempotency keys."""
MAX_RULES = 50
"""Rules one conversation run carries; each is evaluated on every result."""
RULE_WEBHOOK_EVENT = "intelligence_rule"
"""The ``X-Switchboard-Event`` of a rule's webhook."""

RuleTrigger = Literal["turn", "close"]
Number = Annotated[float, Strict()]  # strict: an int or a float, never a bool or a string
Scalar = Annotated[str, Field(max_length=200)] | bool | int | float

_BOTH: tuple[RuleTrigger, ...] = ("turn", "close")
_PATH = r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$"
_TAG = r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$"
_BOUNDS = ("lt", "lte", "gt", "gte")
_MISSING = object()


class RuleCondition(BaseModel):
    """One test of one value of an operator's result (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(pattern=_PATH, description="a dotted path into the result")
    equals: Scalar | None = None
    one_of: list[Scalar] | None = Field(default=None, min_length=1, max_length=50)
    lt: Number | None = None
    lte: Number | None = None
    gt: Number | None = None
    gte: Number | None = None

    @model_validator(mode="after")
    def _one_test(self) -> RuleCondition:
        tests = [
            name
            for name, given in (
                ("equals", self.equals is not None),
                ("one_of", self.one_of is not None),
                ("a bound", any(getattr(self, b) is not None for b in _BOUNDS)),
            )
            if given
        ]
        if len(tests) != 1:
            raise ValueError(
                f"condition on {self.field!r} needs exactly one test: equals, one_of, or "
                f"bounds (lt, lte, gt, gte){'; got ' + ' and '.join(tests) if tests else ''}"
            )
        return self

    def holds(self, result: Mapping[str, JsonValue]) -> bool:
        """Whether the value at ``field`` passes the test (a missing value never does)."""
        value = _lookup(result, self.field)
        if value is _MISSING:
            return False
        if self.equals is not None:
            return _same(value, self.equals)
        if self.one_of is not None:
            return any(_same(value, choice) for choice in self.one_of)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return (
            (self.lt is None or value < self.lt)
            and (self.lte is None or value <= self.lte)
            and (self.gt is None or value > self.gt)
            and (self.gte is None or value >= self.gte)
        )

    def describe(self) -> str:
        """The test in words, values as JSON, for a handoff reason (``label is "negative"``)."""
        if self.equals is not None:
            return f"{self.field} is {json.dumps(self.equals)}"
        if self.one_of is not None:
            return f"{self.field} in {json.dumps(self.one_of)}"
        symbols = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
        bounds = [
            f"{symbols[b]} {getattr(self, b):g}" for b in _BOUNDS if getattr(self, b) is not None
        ]
        return f"{self.field} {' and '.join(bounds)}"


class HandoffAction(BaseModel):
    """Hand the conversation to a human (on a turn, while the AI has it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["handoff"]
    reason: str | None = Field(
        default=None, min_length=1, max_length=200, description="else the rule's condition"
    )


class WebhookAction(BaseModel):
    """POST the result, signed with ``INTELLIGENCE_WEBHOOK_SECRET``, to ``url``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["webhook"]
    url: str = Field(max_length=2000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url must be an http(s) URL with a host, not {url!r}")
        if parts.username or parts.password:
            raise ValueError("webhook url must not carry credentials: the signature authenticates")
        return url


class TagAction(BaseModel):
    """Add ``label`` to the conversation's tags (``GET /api/conversations/{id}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["tag"]
    label: str = Field(pattern=_TAG)


class DoNotContactAction(BaseModel):
    """Stop every outbound message and call, like a ``do_not_contact`` match."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["do_not_contact"]


RuleAction = Annotated[
    HandoffAction | WebhookAction | TagAction | DoNotContactAction, Field(discriminator="type")
]


class IntelligenceRule(BaseModel):
    """When ``operator``'s result meets every condition of ``when`` on a trigger in ``on``, act.

    ``actions`` may be written as their type alone when they take nothing
    (``"handoff"``, ``"do_not_contact"``); ``when`` and ``on`` may be one item.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RULE_NAME_PATTERN)
    operator: str = Field(pattern=RULE_NAME_PATTERN)
    when: list[RuleCondition] = Field(min_length=1, max_length=8)
    on: list[RuleTrigger] = Field(default_factory=lambda: list(_BOTH), min_length=1)
    actions: list[RuleAction] = Field(min_length=1, max_length=5)
    cooldown_turns: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="None: once per conversation; N: again after N more customer turns",
    )

    @field_validator("when", "on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict | str) else value

    @field_validator("actions", mode="before")
    @classmethod
    def _bare_types(cls, value: Any) -> Any:
        if isinstance(value, str | dict):
            value = [value]
        if isinstance(value, list):
            return [{"type": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IntelligenceRule:
        if len(set(self.on)) != len(self.on):
            raise ValueError(f"on lists a trigger twice: {self.on}")
        if len(set(self.actions)) != len(self.actions):
            raise ValueError("the same action is listed twice")
        if self.on == ["close"] and any(isinstance(a, HandoffAction) for a in self.actions):
            raise ValueError("a handoff acts on turns only: at close nobody is left to hand to")
        return self

    def applies(self, trigger: str, result: Mapping[str, JsonValue]) -> bool:
        """Whether this rule watches ``trigger`` and ``result`` meets every condition."""
        return trigger in self.on and all(c.holds(result) for c in self.when)

    def due(self, last_fired: int | None, turn: int) -> bool:
        """Whether it may fire at customer turn ``turn``, having last fired at ``last_fired``."""
        if last_fired is None:
            return True
        if self.cooldown_turns is None:
            return False
        return turn - last_fired >= self.cooldown_turns

    def acts(self, kind: str) -> bool:
        """Whether one of the actions is of type ``kind``."""
        return any(action.type == kind for action in self.actions)

    def describe(self) -> str:
        """The rule's test in words: ``sentiment label is "negative"``."""
        return f"{self.operator} " + " and ".join(c.describe() for c in self.when)


class RuleWebhookBody(BaseModel):
    """The JSON a rule's webhook receives: which rule fired, where, on what result."""

    rule: str
    conversation_id: str
    customer: str
    operator: str
    trigger: RuleTrigger
    turns: tuple[int, int] = Field(description="the first and last customer turn analysed")
    result: dict[str, JsonValue] = Field(description="the operator's result, as stored")
    at: datetime = Field(description="when the rule fired")


class RuleWebhookRequest(BaseModel):
    """Input of ``post_rule_webhook``: one delivery, the same on every retry."""

    url: str = Field(max_length=2000)
    idempotency_key: str = Field(min_length=1, max_length=200, pattern=r"^[^.]+$")
    body: RuleWebhookBody


def _lookup(result: Mapping[str, JsonValue], path: str) -> object:
    value: object = result
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"\d{1,4}", part) and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _same(value: object, expected: object) -> bool:
    """JSON equality: booleans equal only booleans, numbers only numbers, strings only strings."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value is expected
    if isinstance(value, int | float) and isinstance(expected, int | float):
        return value == expected
    return isinstance(value, str) and isinstance(expected, str) and value == expected
