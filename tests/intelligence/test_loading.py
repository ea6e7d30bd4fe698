"""Declaring operators: beside the agent's tools, and in INTELLIGENCE_FILE (TOML or JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from switchboard.agent import Agent
from switchboard.intelligence import (
    ON_BY_DEFAULT,
    ClassificationOperator,
    IntelligenceConfigError,
    JsonOperator,
    Operator,
    PhraseOperator,
    PiiOperator,
    RegexOperator,
    TextOperator,
    function_operator,
    load_operators,
)
from switchboard.intelligence.builtins import DO_NOT_CONTACT_PHRASES, Adherence, DoNotContact, Topic
from switchboard.runtime.config import Settings
from tests.intelligence.helpers import customer, run_offline

TOML = '''
[operator.topic]
labels = ["shipping", "refunds"]
version = "2"

[operator.sentiment]
enabled = false

[operator.do_not_contact]
phrases = ["never text me"]

[operator.adherence]
script = """
- greeting: Says "welcome"
"""

[operator.billing_intent]
kind = "classification"
prompt = "Why is the customer contacting {company} about billing?"
parameters = { company = "Acme" }
labels = ["refund", "double_charge", "other"]
on = "turn"
every = 2

[operator.gist]
kind = "text"
prompt = "One line: what happened?"
on = ["turn", "close"]
wants_memory = true

[operator.refund]
kind = "json"
prompt = "Extract the refund."
schema = { type = "object", properties = { amount = { type = "number" } } }

[operator.cancel_words]
kind = "phrases"
phrases = ["cancel my subscription"]
fuzzy = true

[operator.typos]
kind = "fuzzy"
phrases = ["close my account"]

[operator.order_numbers]
kind = "regex"
pattern = '\\b[A-Z]\\d{4}\\b'

[operator.emails]
kind = "pii"
types = ["email"]

[operator.unused]
kind = "text"
prompt = "x"
enabled = false
'''


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def write(tmp_path: Path, text: str, name: str = "intelligence.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def by_name(operators: list[Operator]) -> dict[str, Operator]:
    return {op.name: op for op in operators}


def test_builtins_only_by_default() -> None:
    operators = load_operators(settings(), None)
    assert [op.name for op in operators] == list(ON_BY_DEFAULT)
    assert "adherence" not in ON_BY_DEFAULT
    assert load_operators(settings(intelligence=False), None) == []


async def test_a_toml_file_configures_builtins_and_declares_operators(tmp_path: Path) -> None:
    path = write(tmp_path, TOML)
    operators = load_operators(settings(intelligence_file=path), None)
    names = [op.name for op in operators]
    assert names == [
        "escalation", "topic", "do_not_contact", "summary", "outcome", "pii", "memory",
        "adherence", "billing_intent", "gist", "refund", "cancel_words", "typos",
        "order_numbers", "emails",
    ]  # fmt: skip
    found = by_name(operators)
    topic = found["topic"]
    assert isinstance(topic, Topic) and topic.labels == ("shipping", "refunds", "other")
    assert topic.version == "2"
    dnc = found["do_not_contact"]
    assert isinstance(dnc, DoNotContact)
    assert dnc.phrases == (*DO_NOT_CONTACT_PHRASES, "never text me")
    assert (await run_offline(dnc, *customer("Never text me again"))).result["matched"] is True
    assert isinstance(found["adherence"], Adherence)

    intent = found["billing_intent"]
    assert isinstance(intent, ClassificationOperator)
    assert intent.labels == ("refund", "double_charge", "other")
    assert intent.instructions().startswith("Why is the customer contacting Acme about billing?")
    assert (intent.on_turn, intent.every, intent.on_close) == (True, 2, False)
    gist = found["gist"]
    assert isinstance(gist, TextOperator) and gist.on_turn and gist.on_close and gist.wants_memory
    refund = found["refund"]
    assert isinstance(refund, JsonOperator) and refund.on_close and not refund.on_turn
    assert refund.answer_schema()["required"] == ["amount"]
    cancel, typos = found["cancel_words"], found["typos"]
    assert isinstance(cancel, PhraseOperator) and cancel.fuzzy == 0.9
    assert isinstance(typos, PhraseOperator) and typos.fuzzy == 0.9
    orders = found["order_numbers"]
    assert isinstance(orders, RegexOperator) and orders.patterns == (r"\b[A-Z]\d{4}\b",)
    emails = found["emails"]
    assert isinstance(emails, PiiOperator) and list(emails.types) == ["email"]


def test_the_array_form_and_json(tmp_path: Path) -> None:
    array = write(tmp_path, """
[[operator]]
name = "topic"
labels = ["a"]

[[operator]]
name = "words"
kind = "phrases"
phrases = ["hello"]
""")  # fmt: skip
    found = by_name(load_operators(settings(intelligence_file=array), None))
    assert isinstance(found["topic"], Topic) and found["topic"].labels == ("a", "other")
    assert isinstance(found["words"], PhraseOperator) and found["words"].fuzzy is None

    data = {
        "operator": {
            "memory": {"enabled": False},
            "intent": {"kind": "classification", "prompt": "Why?", "labels": ["a", "b"]},
        },
        "rules": {
            "angry": {
                "operator": "sentiment",
                "when": {"field": "label", "equals": "negative"},
                "actions": ["handoff"],
            }
        },
    }
    path = write(tmp_path, json.dumps(data), "intelligence.json")
    names = [op.name for op in load_operators(settings(intelligence_file=path), None)]
    assert "memory" not in names and names[-1] == "intent"


def test_an_agent_declares_operators_beside_its_tools(tmp_path: Path) -> None:
    @function_operator(on="close")
    def lines(transcript: list[Any]) -> dict[str, int]:
        return {"lines": len(transcript)}

    intent = ClassificationOperator(name="intent", prompt="Why?", labels=["a"], on="turn")
    agent = Agent(name="acme", instructions="Be helpful.", operators=[intent, lines])
    assert agent.operators == (intent, lines)
    path = write(tmp_path, '[operator.extra]\nkind = "regex"\npattern = "x"\n')
    operators = load_operators(settings(intelligence_file=path), agent)
    assert [op.name for op in operators][-3:] == ["intent", "lines", "extra"]
    assert Agent(name="plain", instructions="Hi").operators == ()

    with pytest.raises(ValueError, match="two operators are named 'intent'"):
        Agent(name="acme", instructions="Be helpful.", operators=[intent, intent])
    clash = write(tmp_path, '[operator.intent]\nkind = "text"\nprompt = "x"\n', "clash.toml")
    with pytest.raises(IntelligenceConfigError, match=r"'intent' \(agent 'acme' and "):
        load_operators(settings(intelligence_file=clash), agent)
    own_topic = TextOperator(name="topic", prompt="x")
    builtin = Agent(name="acme", instructions="Hi", operators=[own_topic])
    with pytest.raises(IntelligenceConfigError, match=r"enabled = false"):
        load_operators(settings(), builtin)
    off = write(tmp_path, "[operator.topic]\nenabled = false\n", "off.toml")
    assert [op.name for op in load_operators(settings(intelligence_file=off), builtin)][-1] == (
        "topic"
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.toml", "[operator\n", "not valid toml"),
        ("bad.json", "[1]", "expected an object"),
        ("bad.yaml", "operator: {}", "use a .toml or .json file"),
        ("x.toml", "[operators.x]\nkind='text'", "unknown section 'operators'"),
        ("x.toml", "[operator.x]\nkind = 'poem'\nprompt = 'p'",
         "operator 'x': kind: Input tag 'poem'"),
        ("x.toml", "[operator.x]\nkind = 'text'", "operator 'x': prompt: Field required"),
        ("x.toml", "[operator.x]\nkind = 'text'\nprompt = 'p'\ncolour = 1",
         "operator 'x': colour: Extra inputs are not permitted"),
        ("x.toml", "[operator.x]\nkind = 'classification'\nprompt = 'p'\nlabels = []",
         "operator 'x': a classification needs labels"),
        ("x.toml", "[operator.x]\nkind = 'text'\nprompt = '{who}'", r"no parameter for \{who\}"),
        ("x.toml", "[operator.x]\nkind = 'text'\nprompt = 'p'\non = 'sometimes'", "on must be"),
        ("x.toml", "[operator.x]\nkind = 'regex'\npattern = '('", "pattern '\\('"),
        ("x.toml", "[operator.x]\nkind = 'json'\nprompt = 'p'\nschema = { type = 'string' }",
         "the schema must be an object's"),
        ("x.toml", "[operator.topic]\nkind = 'text'\nprompt = 'p'", "is a built-in operator"),
        ("x.toml", "[operator.sentiment]\nlabels = ['a']", "sentiment does not take 'labels'"),
        ("x.toml", "[operator.mood]\nlabels = ['a']", "needs a kind \\(text, classification"),
        ("x.toml", "[operator.adherence]\nenabled = true", "adherence needs a script"),
        ("x.toml", "[operator.adherence]\nscript = 'prose'", "no criteria"),
        ("x.toml", "[[operator]]\nkind = 'text'", "operator #1 needs a name"),
        ("x.toml", "[[operator]]\nname='a'\nkind='regex'\npattern='x'\n[operator.topic]\n"
         "labels=['b']", r"write \[\[operator\]\] name = 'topic'"),
    ],
)  # fmt: skip
def test_a_bad_file_stops_start_up_with_a_clear_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, text, name)
    with pytest.raises(IntelligenceConfigError, match=f"INTELLIGENCE_FILE={path}.*{message}"):
        load_operators(settings(intelligence_file=path), None)


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(IntelligenceConfigError, match="No such file"):
        load_operators(settings(intelligence_file=path), None)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTELLIGENCE", "false")
    monkeypatch.setenv("INTELLIGENCE_FILE", str(tmp_path / "i.toml"))
    monkeypatch.setenv("INTELLIGENCE_TASK_QUEUE", "analysis")
    values = settings()
    assert values.intelligence is False
    assert values.intelligence_file == tmp_path / "i.toml"
    assert values.intelligence_task_queue == "analysis"
    monkeypatch.setenv("INTELLIGENCE_FILE", "")
    monkeypatch.delenv("INTELLIGENCE")
    monkeypatch.delenv("INTELLIGENCE_TASK_QUEUE")
    defaults = settings()
    assert defaults.intelligence_file is None and defaults.intelligence is True
    assert defaults.intelligence_task_queue is None
    assert defaults.analysis_task_queue == f"{defaults.temporal_task_queue}-intelligence"


def test_changing_a_prompt_in_the_file_changes_the_version(tmp_path: Path) -> None:
    def version(prompt: str) -> str:
        path = write(tmp_path, f'[operator.gist]\nkind = "text"\nprompt = "{prompt}"\n')
        return by_name(load_operators(settings(intelligence_file=path), None))["gist"].version

    assert version("Summarise") == version("Summarise")
    assert version("Summarise") != version("Summarise in a line")
