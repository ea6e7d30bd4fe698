"""Your own intelligence rules: operator results to actions, decided inside the workflow.

The run's ``IntelligencePolicy.rules`` (``switchboard.contract.rules``) are evaluated on
every analysis that comes back, in declaration order, from the results alone — so a replay
decides exactly as the first run did. A rule that applies and is due fires: the customer
turn it fired on is kept in the state (carried through continue-as-new), which is what
debounces it. Its actions:

- ``handoff``: through the handoff state machine, source ``rule``, the reason naming the
  rule; only on a turn and while the AI has the conversation.
- ``webhook``: the ``post_rule_webhook`` activity on the intelligence task queue, started as
  a task of its own so no reply waits for it; the conversation waits for what is still
  being posted only when it closes. A delivery that fails for good is logged, nothing more.
- ``tag``: a label in the state's ``tags`` (shown by ``GET /api/conversations/{id}``).
- ``do_not_contact``: outbound off, as a ``do_not_contact`` match; the analysis activity,
  which receives these rules with the request, writes the profile trait.

Everything here is behind the ``intelligence-rules`` patch, asked only when the run has
rules, so histories of runs without them never meet a new command.
"""

from __future__ import annotations

import asyncio
import json

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.conversation import ConversationStatus
    from switchboard.contract.handoff import HandoffRequest
    from switchboard.contract.intelligence import (
        AnalysisOutcome,
        AnalysisRequest,
        OperatorResult,
        OperatorTrigger,
    )
    from switchboard.contract.names import POST_RULE_WEBHOOK_ACTIVITY
    from switchboard.contract.rules import (
        DoNotContactAction,
        HandoffAction,
        IntelligenceRule,
        RuleWebhookBody,
        RuleWebhookRequest,
        TagAction,
        WebhookAction,
    )
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.conversation.handoff import Handoffs
    from workflows.policies import RULE_WEBHOOK_POLICY

RULES_PATCH = "intelligence-rules"
MAX_TAGS = 32
"""Tags a conversation keeps; a rule's tag past them is dropped (and logged)."""
MAX_WEBHOOK_RESULT_CHARS = 64_000
"""A result larger than this (as JSON) is posted as ``{}``: payloads stay small."""


class Rules:
    """Evaluates the run's own rules on analysis results and acts (see the module docstring)."""

    def __init__(self, conv: ConversationBase, handoffs: Handoffs) -> None:
        self._conv = conv
        self._handoffs = handoffs
        self._posting: list[asyncio.Task[None]] = []
        self._on: bool | None = None

    def enabled(self) -> bool:
        """Whether this run has rules and the ``intelligence-rules`` patch."""
        if self._on is None:
            if not self._conv.cfg.intelligence.rules:
                return False
            if workflow.unsafe.is_read_only():  # a query may not mark a patch
                return False
            self._on = workflow.patched(RULES_PATCH)
        return self._on

    def for_activity(self, trigger: OperatorTrigger) -> list[IntelligenceRule]:
        """The rules whose action the analysis activity applies itself (the trait)."""
        if not self.enabled():
            return []
        return [
            rule
            for rule in self._conv.cfg.intelligence.rules
            if str(trigger) in rule.on and rule.acts("do_not_contact")
        ]

    def act(self, request: AnalysisRequest, outcome: AnalysisOutcome) -> None:
        """Fire every rule that applies to ``outcome`` and is due."""
        if not self.enabled():
            return
        state = self._conv.state
        turn = request.turns[1]
        for rule in self._conv.cfg.intelligence.rules:
            result = outcome.of(rule.operator)
            if result is None or not rule.applies(str(request.trigger), result.result):
                continue
            if not rule.due(state.rules_fired.get(rule.name), turn):
                continue
            state.rules_fired[rule.name] = turn
            self._conv.note(f"rule {rule.name} fired on {rule.operator} ({request.trigger})")
            for index, action in enumerate(rule.actions):
                self._perform(rule, index, action, request, result)

    @property
    def busy(self) -> bool:
        """Whether a webhook is still being posted."""
        return any(not task.done() for task in self._posting)

    async def settle(self) -> None:
        """Wait for the webhooks still being posted (the run is closing)."""
        for task in self._posting:
            await task
        self._posting = []

    def _perform(
        self,
        rule: IntelligenceRule,
        index: int,
        action: HandoffAction | WebhookAction | TagAction | DoNotContactAction,
        request: AnalysisRequest,
        result: OperatorResult,
    ) -> None:
        state = self._conv.state
        if isinstance(action, HandoffAction):
            if request.trigger is OperatorTrigger.TURN and state.status is ConversationStatus.AI:
                reason = f"rule {rule.name}: {action.reason or rule.describe()}"
                self._handoffs.request(HandoffRequest(reason=reason, source="rule"))
        elif isinstance(action, WebhookAction):
            delivery = self._delivery(rule, index, action, request, result)
            self._posting = [t for t in self._posting if not t.done()]
            self._posting.append(asyncio.create_task(self._post(rule.name, delivery)))
        elif isinstance(action, TagAction):
            if action.label in state.tags:
                return
            if len(state.tags) >= MAX_TAGS:
                workflow.logger.warning(
                    "rule %s: tag dropped, %d tags already", rule.name, MAX_TAGS
                )
                return
            state.tags.append(action.label)
        elif not state.do_not_contact:
            state.do_not_contact = True
            self._conv.note(f"rule {rule.name}: outbound is off")

    def _delivery(
        self,
        rule: IntelligenceRule,
        index: int,
        action: WebhookAction,
        request: AnalysisRequest,
        result: OperatorResult,
    ) -> RuleWebhookRequest:
        body = result.result
        if len(json.dumps(body, default=str)) > MAX_WEBHOOK_RESULT_CHARS:
            workflow.logger.warning(
                "rule %s: result too large for a webhook, sent as {}", rule.name
            )
            body = {}
        return RuleWebhookRequest(
            url=action.url,
            # One key per rule, conversation run, customer turn and webhook: a rule fires at
            # most once per turn, so a retried delivery carries the same key, a new one never.
            idempotency_key=self._conv.key(
                f"rule-{rule.name}-turn-{request.turns[1]}-webhook-{index}"
            ),
            body=RuleWebhookBody(
                rule=rule.name,
                conversation_id=request.conversation_id,
                customer=request.customer,
                operator=rule.operator,
                trigger="turn" if request.trigger is OperatorTrigger.TURN else "close",
                turns=request.turns,
                result=body,
                at=workflow.now(),
            ),
        )

    async def _post(self, rule: str, delivery: RuleWebhookRequest) -> None:
        try:
            await workflow.execute_activity(
                POST_RULE_WEBHOOK_ACTIVITY,
                delivery,
                task_queue=self._conv.cfg.intelligence.task_queue,
                summary=f"rule {rule}: webhook",
                **RULE_WEBHOOK_POLICY,
            )
        except ACTIVITY_FAILURES as exc:
            # The rule's other actions stand; the receiver can be told again by hand. The
            # failure's message is ours (a status or a transport error), never the result.
            workflow.logger.warning("rule %s: webhook not delivered: %s", rule, exc.cause or exc)
