"""Declaring rules: INTELLIGENCE_FILE's ``rules`` and ``Agent(rules=...)``, checked at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from switchboard.agent import Agent
from switchboard.contract.rules import (
    DoNotContactAction,
    HandoffAction,
    IntelligenceRule,
    TagAction,
    WebhookAction,
)
from switchboard.intelligence import (
    IntelligenceConfigError,
    load_intelligence_file,
    load_rules,
    webhook_secret,
)
from switchboard.runtime.config import Settings
from workflows.starting import intelligence_policy

TOML = """
[operator.cancel_words]
kind = "phrases"
phrases = ["cancel my subscription"]
on = "turn"

[rules.angry_customer]
operator = "sentiment"
when = { field = "label", equals = "negative" }
on = "turn"
actions = [{ type = "webhook", url = "https://hooks.example.com/angry" }, "handoff"]
cooldown_turns = 5

[rules.churn_risk]
operator = "cancel_words"
when = [{ field = "matched", equals = true }]
actions = [{ type = "tag", label = "churn-risk" }, "do_not_contact"]

[rules.unresolved]
operator = "outcome"
when = { field = "outcome", one_of = ["unresolved", "abandoned"] }
actions = [{ type = "webhook", url = "http://127.0.0.1:9000/hook" }]

[rules.switched_off]
operator = "sentiment"
when = { field = "score", lt = -0.9 }
actions = ["handoff"]
enabled = false
"""


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def write(tmp_path: Path, text: str, name: str = "intelligence.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rule(name: str = "angry", **fields: Any) -> IntelligenceRule:
    return IntelligenceRule.model_validate(
        {
            "name": name,
            "operator": "sentiment",
            "when": {"field": "label", "equals": "negative"},
            "actions": ["handoff"],
            **fields,
        }
    )


def test_a_toml_file_declares_rules_as_tables(tmp_path: Path) -> None:
    rules = load_rules(settings(intelligence_file=write(tmp_path, TOML)), None)
    assert [r.name for r in rules] == ["angry_customer", "churn_risk", "unresolved"]
    angry, churn, unresolved = rules
    assert angry.operator == "sentiment" and angry.on == ["turn"] and angry.cooldown_turns == 5
    assert angry.actions == [
        WebhookAction(type="webhook", url="https://hooks.example.com/angry"),
        HandoffAction(type="handoff"),
    ]
    assert churn.on == ["turn", "close"] and churn.cooldown_turns is None
    assert churn.actions == [
        TagAction(type="tag", label="churn-risk"),
        DoNotContactAction(type="do_not_contact"),
    ]
    assert unresolved.applies("close", {"outcome": "abandoned"})


def test_the_array_form_and_json(tmp_path: Path) -> None:
    array = write(tmp_path, """
[[rules]]
name = "angry"
operator = "sentiment"
when = { field = "label", equals = "negative" }
actions = ["handoff"]
""")  # fmt: skip
    assert [r.name for r in load_rules(settings(intelligence_file=array), None)] == ["angry"]
    data = {
        "rules": {
            "high_topic": {
                "operator": "topic",
                "when": {"field": "label", "equals": "billing"},
                "actions": [{"type": "tag", "label": "billing"}],
            }
        }
    }
    path = write(tmp_path, json.dumps(data), "intelligence.json")
    [found] = load_rules(settings(intelligence_file=path), None)
    assert found.name == "high_topic" and found.acts("tag")
    assert load_intelligence_file(path).rules == [found]


def test_no_rules_without_a_file_or_with_intelligence_off(tmp_path: Path) -> None:
    assert load_rules(settings(), None) == []
    path = write(tmp_path, TOML)
    assert load_rules(settings(intelligence=False, intelligence_file=path), None) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '[rules.a]\noperator = "sentimnt"\nwhen = { field = "label", equals = "x" }\n'
            'actions = ["handoff"]\n',
            r"rule 'a' \(INTELLIGENCE_FILE=.*\): unknown operator 'sentimnt' \(running: ",
        ),
        (
            '[operator.sentiment]\nenabled = false\n[rules.a]\noperator = "sentiment"\n'
            'when = { field = "label", equals = "x" }\nactions = ["handoff"]\n',
            "unknown operator 'sentiment'.*turned off",
        ),
        (
            '[rules.a]\noperator = "summary"\non = "turn"\n'
            'when = { field = "text", equals = "x" }\nactions = ["do_not_contact"]\n',
            "'summary' never runs on turn \\(it runs on close\\)",
        ),
        (
            '[rules.a]\noperator = "sentiment"\nwhen = { field = "label", equals = "x" }\n'
            'actions = ["email"]\n',
            r"INTELLIGENCE_FILE=.*: rule 'a': actions.0: Input tag 'email'",
        ),
        (
            '[rules.a]\noperator = "sentiment"\nwhen = { field = "label", equals = "x" }\n'
            'actions = [{ type = "webhook" }]\n',
            "rule 'a': actions.0.webhook.url: Field required",
        ),
        (
            '[rules.a]\noperator = "sentiment"\nwhen = { field = "label", equals = "x" }\n'
            'actions = [{ type = "webhook", url = "hooks.example.com" }]\n',
            "rule 'a': actions.0.webhook.url: webhook url must be an http",
        ),
        (
            '[rules.a]\noperator = "sentiment"\nwhen = { field = "label" }\n'
            'actions = ["handoff"]\n',
            "rule 'a': when.0: condition on 'label' needs exactly one test",
        ),
        ("[rules]\nescalate_on = 'high'\n", "rule 'escalate_on' must be a table"),
        ("rules = 3\n", "'rules' must be tables"),
        ("[[rules]]\noperator = 'sentiment'\n", "rule #1 needs a name"),
        (
            '[rules.a]\nname = "b"\noperator = "sentiment"\n',
            "rule 'a' is named differently",
        ),
        (
            '[rules.a]\noperator = "sentiment"\nwhen = { field = "label", equals = "x" }\n'
            'actions = ["handoff"]\nenabled = "no"\n',
            "enabled must be true or false",
        ),
        ("[rule.a]\n", "unknown section 'rule' \\(use 'operator' or 'rules'\\)"),
    ],
)
def test_a_bad_rule_stops_the_start_naming_it(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(IntelligenceConfigError, match=problem):
        load_rules(settings(intelligence_file=path), None)


def test_an_agent_declares_rules_beside_its_operators(tmp_path: Path) -> None:
    angry = rule("angry", actions=[{"type": "tag", "label": "angry"}])
    agent = Agent(name="acme", instructions="Be helpful.", rules=[angry])
    assert agent.rules == (angry,)
    assert Agent(name="plain", instructions="Hi").rules == ()
    path = write(tmp_path, TOML)
    names = [r.name for r in load_rules(settings(intelligence_file=path), agent)]
    assert names == ["angry", "angry_customer", "churn_risk", "unresolved"]

    with pytest.raises(ValueError, match="two rules are named 'angry'"):
        Agent(name="acme", instructions="Hi", rules=[angry, angry])
    clash = write(tmp_path, TOML.replace("rules.churn_risk", "rules.angry"), "clash.toml")
    with pytest.raises(IntelligenceConfigError, match=r"two rules are named 'angry' \(agent"):
        load_rules(settings(intelligence_file=clash), agent)
    unknown = Agent(name="acme", instructions="Hi", rules=[rule("x", operator="nope")])
    with pytest.raises(IntelligenceConfigError, match=r"rule 'x' \(agent 'acme'\): unknown"):
        load_rules(settings(), unknown)


def test_the_policy_new_conversations_carry_holds_the_rules(tmp_path: Path) -> None:
    policy = intelligence_policy(settings(intelligence_file=write(tmp_path, TOML)))
    assert [r.name for r in policy.rules] == ["angry_customer", "churn_risk", "unresolved"]
    # What a run carries survives Temporal's JSON round trip unchanged.
    assert type(policy).model_validate_json(policy.model_dump_json()) == policy
    assert intelligence_policy(settings()).rules == []


def test_a_webhook_rule_needs_its_own_secret(tmp_path: Path) -> None:
    rules = load_rules(settings(intelligence_file=write(tmp_path, TOML)), None)
    with pytest.raises(IntelligenceConfigError, match="'angry_customer' posts a webhook: set "):
        webhook_secret(settings(), rules)
    assert webhook_secret(settings(intelligence_webhook_secret="s3cret"), rules) == "s3cret"
    assert webhook_secret(settings(), [r for r in rules if not r.acts("webhook")]) == ""
    with pytest.raises(ValidationError, match="INTELLIGENCE_WEBHOOK_SECRET must differ"):
        settings(intelligence_webhook_secret="same", gateway_api_key="same")
