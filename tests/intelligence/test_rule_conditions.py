"""A rule's conditions, triggers and debounce: pure functions of a result and a turn."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import JsonValue, ValidationError

from switchboard.contract.rules import IntelligenceRule, RuleCondition

RESULT: dict[str, JsonValue] = {
    "label": "negative",
    "score": -0.6,
    "matched": True,
    "count": 1,
    "entities": [{"type": "email", "text": "a@b.c"}, {"type": "phone"}],
    "nested": {"level": "high", "flags": {"vip": False}},
}


def condition(**test: Any) -> RuleCondition:
    return RuleCondition.model_validate(test)


def rule(**fields: Any) -> IntelligenceRule:
    base: dict[str, Any] = {
        "name": "r",
        "operator": "sentiment",
        "when": {"field": "label", "equals": "negative"},
        "actions": ["handoff"],
    }
    return IntelligenceRule.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("test", "holds"),
    [
        ({"field": "label", "equals": "negative"}, True),
        ({"field": "label", "equals": "Negative"}, False),  # exact, as stored
        ({"field": "label", "one_of": ["negative", "mixed"]}, True),
        ({"field": "label", "one_of": ["positive", "neutral"]}, False),
        ({"field": "score", "lt": -0.5}, True),
        ({"field": "score", "lte": -0.6}, True),
        ({"field": "score", "lt": -0.6}, False),
        ({"field": "score", "gt": -1, "lt": 0}, True),  # bounds combine into a range
        ({"field": "score", "gte": 0}, False),
        ({"field": "count", "equals": 1}, True),
        ({"field": "count", "equals": 1.0}, True),  # one number, whatever its JSON spelling
        ({"field": "matched", "equals": True}, True),
        ({"field": "matched", "equals": 1}, False),  # true is not 1
        ({"field": "count", "equals": True}, False),  # nor 1 true
        ({"field": "count", "equals": "1"}, False),  # nor "1" a number
        ({"field": "label", "lt": 3}, False),  # a string is never within bounds
        ({"field": "matched", "gt": 0}, False),  # a boolean neither
        ({"field": "entities.0.type", "equals": "email"}, True),
        ({"field": "entities.1.type", "one_of": ["phone"]}, True),
        ({"field": "entities.2.type", "equals": "email"}, False),  # past the end
        ({"field": "nested.flags.vip", "equals": False}, True),
        ({"field": "nested.level.deeper", "equals": "x"}, False),  # through a string
        ({"field": "absent", "equals": "x"}, False),
        ({"field": "entities", "equals": "x"}, False),  # a list equals no scalar
    ],
)
def test_a_condition_tests_one_value_of_the_result(test: dict[str, Any], holds: bool) -> None:
    assert condition(**test).holds(RESULT) is holds


@pytest.mark.parametrize(
    ("test", "problem"),
    [
        ({"field": "label"}, "exactly one test"),
        ({"field": "label", "equals": "a", "one_of": ["b"]}, "got equals and one_of"),
        ({"field": "score", "equals": 1, "lt": 2}, "got equals and a bound"),
        ({"field": "label", "one_of": []}, "at least 1 item"),
        ({"field": "score", "lt": "3"}, "valid number"),
        ({"field": "score", "lt": True}, "valid number"),
        ({"field": "a..b", "equals": 1}, "pattern"),
        ({"field": "label", "equals": "x", "contains": "y"}, "Extra inputs"),
        ({"field": "label", "equals": "x" * 201}, "at most 200"),
    ],
)
def test_a_condition_is_well_defined(test: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        condition(**test)


def test_every_condition_must_hold_and_the_trigger_must_be_watched() -> None:
    both = rule(
        when=[{"field": "label", "equals": "negative"}, {"field": "score", "lt": -0.9}],
    )
    assert not both.applies("turn", RESULT)
    assert both.applies("turn", {**RESULT, "score": -0.95})
    turn_only = rule(on="turn")
    assert turn_only.on == ["turn"]
    assert turn_only.applies("turn", RESULT) and not turn_only.applies("close", RESULT)
    assert rule().on == ["turn", "close"]  # the default: both


def test_a_rule_fires_once_unless_it_has_a_cooldown() -> None:
    once = rule()
    assert once.due(None, 1)
    assert not once.due(1, 2) and not once.due(1, 100)
    every = rule(cooldown_turns=1)
    assert every.due(3, 4) and not every.due(4, 4)  # never twice for one turn
    spaced = rule(cooldown_turns=3)
    assert not spaced.due(2, 4) and spaced.due(2, 5)


def test_actions_may_be_written_by_their_type_alone() -> None:
    parsed = rule(
        actions=["handoff", {"type": "tag", "label": "angry"}, "do_not_contact"],
    )
    assert [a.type for a in parsed.actions] == ["handoff", "tag", "do_not_contact"]
    assert parsed.acts("tag") and not parsed.acts("webhook")
    assert rule(actions="handoff").acts("handoff")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"actions": []}, "at least 1 item"),
        ({"actions": ["email"]}, "does not match any of the expected tags"),
        ({"actions": [{"type": "webhook"}]}, r"actions.0.webhook.url\n  Field required"),
        ({"actions": [{"type": "webhook", "url": "ftp://x.example"}]}, "http"),
        ({"actions": [{"type": "webhook", "url": "https://u:p@x.example/"}]}, "credentials"),
        ({"actions": [{"type": "tag"}]}, "label"),
        ({"actions": [{"type": "tag", "label": "has space"}]}, "pattern"),
        ({"actions": ["handoff", "handoff"]}, "listed twice"),
        ({"on": "close"}, "a handoff acts on turns only"),
        ({"on": "hourly"}, "'turn' or 'close'"),
        ({"on": ["turn", "turn"]}, "twice"),
        ({"cooldown_turns": 0}, "greater than or equal to 1"),
        ({"name": "has.dot"}, "pattern"),
        ({"when": []}, "at least 1 item"),
        ({"action": ["handoff"]}, "Extra inputs"),
    ],
)
def test_a_rule_is_checked_on_its_own(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        rule(**fields)


def test_a_rule_describes_its_test_for_a_handoff_reason() -> None:
    assert rule().describe() == 'sentiment label is "negative"'
    ranged = rule(when=[{"field": "score", "gt": -1, "lte": -0.5}])
    assert ranged.describe() == "sentiment score <= -0.5 and > -1"
    assert rule(when={"field": "label", "one_of": ["a", "b"]}).describe() == (
        'sentiment label in ["a", "b"]'
    )
    both = rule(when=[{"field": "matched", "equals": True}, {"field": "count", "gte": 2}])
    assert both.describe() == "sentiment matched is true and count >= 2"
