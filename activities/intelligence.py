"""Conversation intelligence: run the operators, store each result once, write to memory.

``analyze_conversation`` runs on the intelligence task queue (``INTELLIGENCE_TASK_QUEUE``),
so a separate worker pool can serve it and a slow operator model never competes with
replies. Every result is stored under its conversation run, operator, version and turn range:
an attempt retried after a crash writes the same rows again, never new ones. What the
``memory`` operator extracts becomes observations and traits (with the operator as their
source); a ``do_not_contact`` match becomes the ``do_not_contact`` trait, which outbound
requests check, and so does a result that a rule with a ``do_not_contact`` action (sent with
the request) applies to. At close the run's facts are stored with the labels the operators
found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeGuard

import structlog
from temporalio import activity

from activities.heartbeat import heartbeating
from switchboard.contract.intelligence import (
    DO_NOT_CONTACT_TRAIT,
    AnalysisOutcome,
    AnalysisRequest,
    ConversationFacts,
    OperatorResult,
)
from switchboard.contract.names import ANALYZE_CONVERSATION_ACTIVITY
from switchboard.intelligence import Analyzer
from switchboard.intelligence.analyzer import Recall
from switchboard.memory import MemoryStore
from switchboard.memory.context import knowledge_lines, memory_lines
from switchboard.memory.models import NewObservation, RecallQuery, TraitValue

log = structlog.get_logger(__name__)

_SOURCE = "intelligence"


def store_recall(store: MemoryStore) -> Recall:
    """The context operators that ask for it get: the customer's memory, knowledge passages.

    The same recall a turn's model request carries, split in two, so an operator can be
    given its customer's profile, the knowledge base, or both.
    """

    async def recall(customer: str, query: str) -> tuple[str, str]:
        found = await store.recall(RecallQuery(customer=customer, query=query))
        return "\n".join(memory_lines(found)), "\n".join(knowledge_lines(found))

    return recall


class IntelligenceActivities:
    """Runs language operators over conversations (see the module docstring)."""

    def __init__(self, analyzer: Analyzer, store: MemoryStore) -> None:
        self._analyzer = analyzer
        self._store = store

    @activity.defn(name=ANALYZE_CONVERSATION_ACTIVITY)
    async def analyze_conversation(self, request: AnalysisRequest) -> AnalysisOutcome:
        """Run ``request.operators``; store every result (and at close the facts) once."""
        bound = log.bind(
            conversation_id=request.conversation_id,
            trigger=str(request.trigger),
            operators=request.operators,
        )
        async with heartbeating(5.0):
            results = await self._analyzer.run(request) if request.operators else []
        await self._store.save_operator_results(results)
        await self._write_memory(request, results)
        if request.facts is not None:
            await self._store.save_conversation_facts(await self._labelled(request.facts, results))
        failed = [r.operator for r in results if r.error is not None]
        bound.info("analysis_stored", results=len(results), failed=failed)
        return AnalysisOutcome(results=results)

    async def _write_memory(self, request: AnalysisRequest, results: list[OperatorResult]) -> None:
        """Observations and traits from the ``memory`` operator; the do-not-contact trait."""
        now = datetime.now(UTC)
        for result in results:
            if result.error is not None:
                continue
            if _asks_not_to_be_contacted(request, result):
                await self._store.set_trait(
                    request.customer, DO_NOT_CONTACT_TRAIT, True, source=_SOURCE, at=now
                )
            if result.operator != "memory":
                continue
            observations = result.result.get("observations")
            for item in observations if isinstance(observations, list) else []:
                if not isinstance(item, dict) or item.get("action") == "discard":
                    continue
                text = item.get("text")
                if not isinstance(text, str) or not text.strip():
                    continue
                await self._store.add_observation(
                    request.customer,
                    NewObservation(
                        text=text.strip(),
                        source=f"{_SOURCE}:memory",
                        at=now,
                        conversation_ids=[request.conversation_id],
                        # Keyed by run and text: a retried attempt adds nothing twice.
                        key=_key(request.run_id, text.strip()),
                    ),
                )
            traits = result.result.get("traits")
            for name, value in (traits if isinstance(traits, dict) else {}).items():
                if _trait_value(value):
                    await self._store.set_trait(
                        request.customer, name, value, source=f"{_SOURCE}:memory", at=now
                    )

    async def _labelled(
        self, facts: ConversationFacts, results: Sequence[OperatorResult]
    ) -> ConversationFacts:
        """The facts with the run's latest sentiment and topic and its outcome, and tokens.

        ``facts.tokens`` are the conversation's own model calls (replies, handoff summaries);
        every operator result the run stored adds its own, failed ones too (they were paid).
        """
        stored = await self._store.operator_results(facts.conversation_id)
        latest: dict[str, OperatorResult] = {}
        for result in [*stored, *results]:
            if result.run_id == facts.run_id and result.error is None:
                latest[result.operator] = result  # oldest first: the last one wins
        labels: dict[str, object] = {}
        if (sentiment := latest.get("sentiment")) is not None:
            labels["sentiment"] = _text(sentiment.result.get("label"))
        if (topic := latest.get("topic")) is not None:
            labels["topic"] = _text(topic.result.get("label"))
        if (outcome := latest.get("outcome")) is not None:
            labels["outcome"] = _text(outcome.result.get("outcome"))
            resolved = outcome.result.get("resolved")
            labels["resolved"] = resolved if isinstance(resolved, bool) else None
        # Each stored result once (its key), not only each operator's latest: a turn operator
        # runs, and costs, on every turn.
        spent = {
            (r.operator, r.version, r.turns): r.tokens
            for r in [*stored, *results]
            if r.run_id == facts.run_id
        }
        tokens = facts.tokens + sum(spent.values())
        return facts.model_copy(update={**labels, "tokens": tokens})


def _asks_not_to_be_contacted(request: AnalysisRequest, result: OperatorResult) -> bool:
    """A ``do_not_contact`` match, or a result a rule with that action applies to."""
    if result.operator == "do_not_contact" and result.result.get("matched") is True:
        return True
    return any(
        rule.operator == result.operator and rule.applies(str(request.trigger), result.result)
        for rule in request.rules
    )


def _key(run_id: str, text: str) -> str:
    return "intelligence:" + hashlib.sha256(f"{run_id}\n{text}".encode()).hexdigest()[:24]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _trait_value(value: object) -> TypeGuard[TraitValue]:
    return isinstance(value, str | int | float | bool) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )
