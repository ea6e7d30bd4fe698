"""Conversation intelligence: operators, declared once, that analyse every conversation.

An operator reads a conversation's transcript on customer turns (every N of them) or at
close and answers a result stored under its name and version. The built-ins (sentiment,
escalation, topic, do_not_contact on turns; summary, outcome, pii, memory at close;
adherence when a script is given) are on by default and work without a model. Your own go
beside the agent's tools, or in ``INTELLIGENCE_FILE`` for people who do not write Python::

    from switchboard.agent import Agent
    from switchboard.intelligence import ClassificationOperator, function_operator

    billing_intent = ClassificationOperator(
        name="billing_intent",
        prompt="Why is the customer contacting us about billing?",
        labels=["refund", "double_charge", "invoice", "other"],
        on="turn",
    )

    @function_operator(on="close")
    def message_count(transcript):
        return {"customer": sum(1 for line in transcript if line.role == "customer")}

    agent = Agent(name="acme", instructions="...", operators=[billing_intent, message_count])

The worker runs them with ``Analyzer(load_operators(settings, agent), client, model)``.
Rules act on their results (``IntelligenceRule``: hand off, a signed webhook, a tag,
do-not-contact), declared beside them: ``Agent(rules=[...])`` or ``INTELLIGENCE_FILE``.

Module map: ``operator`` (Operator, its context and output), ``analyzer`` (Analyzer),
``loading`` and ``entries`` (load_operators, INTELLIGENCE_FILE), ``rules`` (reading and
checking rules), ``builtins/`` (the
built-ins), ``generative`` and ``model`` (asking the model for schema-shaped JSON),
``custom`` (your prompts), ``matching`` and ``pii`` (deterministic operators), ``function``
(Python functions), ``lexicon`` (the offline built-ins' word lists), ``transcript``
(rendering, evidence).
"""

from switchboard.contract.rules import IntelligenceRule
from switchboard.intelligence.analyzer import Analyzer, Recall
from switchboard.intelligence.builtins import BUILTINS, ON_BY_DEFAULT, builtin_operators
from switchboard.intelligence.custom import (
    ClassificationOperator,
    JsonOperator,
    PromptOperator,
    TextOperator,
)
from switchboard.intelligence.function import FunctionOperator, function_operator
from switchboard.intelligence.generative import GenerativeOperator
from switchboard.intelligence.loading import (
    IntelligenceConfigError,
    IntelligenceFile,
    load_intelligence_file,
    load_operators,
    load_rules,
    webhook_secret,
)
from switchboard.intelligence.matching import PhraseOperator, RegexOperator
from switchboard.intelligence.model import StructuredModel
from switchboard.intelligence.operator import (
    Operator,
    OperatorContext,
    OperatorError,
    OperatorOutput,
)
from switchboard.intelligence.pii import PiiOperator

__all__ = [
    "BUILTINS",
    "ON_BY_DEFAULT",
    "Analyzer",
    "ClassificationOperator",
    "FunctionOperator",
    "GenerativeOperator",
    "IntelligenceConfigError",
    "IntelligenceFile",
    "IntelligenceRule",
    "JsonOperator",
    "Operator",
    "OperatorContext",
    "OperatorError",
    "OperatorOutput",
    "PhraseOperator",
    "PiiOperator",
    "PromptOperator",
    "Recall",
    "RegexOperator",
    "StructuredModel",
    "TextOperator",
    "builtin_operators",
    "function_operator",
    "load_intelligence_file",
    "load_operators",
    "load_rules",
    "webhook_secret",
]
