"""Conversation intelligence beside the conversation: operators that run, rules that act.

After a customer turn has been answered, the operators due on that turn (every N customer
turns) run as the ``analyze_conversation`` activity on the intelligence task queue — started
as a task of its own, so the next reply never waits for them and a failing operator model
only costs its own result. When results come back, the rules act: an ``escalation`` of the
configured level hands the conversation to a human through the handoff state machine (the
reason names the rule), ``sentiment`` and ``topic`` tag the conversation (search attributes
the Temporal UI filters on), and a ``do_not_contact`` match stops every outbound message and
call. Rules of your own (``IntelligencePolicy.rules``) act after these, in
``workflows.conversation.rules``. At close, the close operators (summary, outcome, PII,
memory) run with the run's facts, which the activity stores for insights; ``outcome`` tags
the conversation.

Everything here is behind the ``intelligence`` patch and off unless the run's
``IntelligencePolicy`` enables it, so conversations that started before replay as they ran.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from switchboard.contract import search_attributes as sa
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import ConversationStatus, Role
    from switchboard.contract.handoff import HandoffRequest
    from switchboard.contract.intelligence import (
        AnalysisLine,
        AnalysisOutcome,
        AnalysisRequest,
        ConversationFacts,
        OperatorTrigger,
    )
    from switchboard.contract.names import ANALYZE_CONVERSATION_ACTIVITY
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.conversation.handoff import Handoffs
    from workflows.conversation.rules import Rules

INTELLIGENCE_PATCH = "intelligence"
SETTLE_PATCH = "intelligence-settle"
"""Continue-as-new waits for running analyses and rule webhooks (their results act)."""
ESCALATION_RULE = "escalation_high"
"""The default rule: an escalation of the policy's level hands the conversation to a human."""

_LINES = 60  # the newest transcript lines a real-time operator reads
_ANALYSIS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


class Intelligence:
    """Asks for analyses on turns and at close, and acts on what comes back."""

    def __init__(self, conv: ConversationBase, handoffs: Handoffs) -> None:
        self._conv = conv
        self._handoffs = handoffs
        self._running: list[asyncio.Task[None]] = []
        self._on: bool | None = None
        self._escalated_at = -1  # the customer turn whose escalation last handed off
        self._rules = Rules(conv, handoffs)

    def enabled(self) -> bool:
        """Whether this run analyses (its policy, and the ``intelligence`` patch)."""
        if self._on is None:
            if not self._conv.cfg.intelligence.enabled:
                return False
            if workflow.unsafe.is_read_only():  # a query may not mark a patch
                return False
            self._on = workflow.patched(INTELLIGENCE_PATCH)
        return self._on

    def turn_answered(self) -> None:
        """A customer turn was answered: start the operators due on it, beside the loop."""
        state = self._conv.state
        state.customer_turns += 1
        if not self.enabled():
            return
        due = self._conv.cfg.intelligence.due_on_turn(state.customer_turns)
        if due:
            request = self._request(OperatorTrigger.TURN, due, lines=_LINES)
            self._running = [t for t in self._running if not t.done()]
            self._running.append(asyncio.create_task(self._analyse(request)))

    async def settle(self) -> None:
        """Finish the analyses and rule webhooks still running (the run continues as new).

        Behind ``SETTLE_PATCH``: histories from before continued as new without waiting.
        """
        if not self.enabled() or not (self._running or self._rules.busy):
            return
        if not workflow.patched(SETTLE_PATCH):
            return
        for task in self._running:
            await task
        self._running = []
        await self._rules.settle()

    async def at_close(self) -> None:
        """The conversation is closing: finish what runs, then the close operators and facts."""
        if not self.enabled():
            return
        for task in self._running:
            await task
        due = self._conv.cfg.intelligence.due_on_close()
        request = self._request(OperatorTrigger.CLOSE, due, lines=None)
        await self._analyse(request.model_copy(update={"facts": self.facts()}))
        await self._rules.settle()

    def facts(self) -> ConversationFacts:
        """What this run was, measured from its state (README, "Insights", defines each)."""
        state, cfg = self._conv.state, self._conv.cfg
        lines = [e for e in state.transcript if e.role is not Role.SYSTEM and e.text]
        said = [e for e in lines if e.role is Role.CUSTOMER]
        replies = [e for e in lines if e.role in (Role.ASSISTANT, Role.AGENT)]
        first_response = None
        if said:
            answer = next((e.at for e in replies if e.at >= said[0].at), None)
            if answer is not None:
                first_response = (answer - said[0].at).total_seconds() * 1000
        # Handle time: the gaps between messages, except those of a customer gone quiet.
        idle = timedelta(seconds=cfg.idle_timeout_seconds)
        handled = sum(
            ((b.at - a.at) for a, b in itertools.pairwise(lines) if b.at - a.at < idle),
            timedelta(0),
        )
        now = workflow.now()
        return ConversationFacts(
            conversation_id=workflow.info().workflow_id,
            run_id=workflow.info().first_execution_run_id,
            customer=state.customer,
            channels=list(state.channels),
            started_at=state.started_at or now,
            closed_at=now,
            customer_turns=state.customer_turns,
            assistant_turns=sum(1 for e in replies if e.role is Role.ASSISTANT),
            handle_seconds=handled.total_seconds(),
            first_response_ms=first_response,
            handoffs=state.handoffs,
            handoff_reasons=list(state.handoff_reasons),
            tool_calls=state.tool_calls,
            tool_failures=state.tool_failures,
            callbacks=state.callbacks_made,
            interruptions=sum(1 for e in replies if e.interrupted),
            voice_replies=sum(1 for e in replies if e.channel is Channel.VOICE),
            delivery_failures=len(state.delivery_failures),
            opted_out=state.opted_out,
            tokens=state.model_tokens,  # the activity adds the operators' own
        )

    def _request(
        self, trigger: OperatorTrigger, operators: list[str], lines: int | None
    ) -> AnalysisRequest:
        state = self._conv.state
        transcript = [
            AnalysisLine(index=i, role=str(e.role), text=e.text, channel=e.channel, at=e.at)
            for i, e in enumerate(state.transcript)
            if e.role is not Role.SYSTEM and e.text
        ]
        if lines is not None:
            transcript = transcript[-lines:]
        return AnalysisRequest(
            conversation_id=workflow.info().workflow_id,
            run_id=workflow.info().first_execution_run_id,
            customer=state.customer,
            trigger=trigger,
            turns=(1, max(1, state.customer_turns)),
            transcript=transcript,
            operators=operators,
            rules=self._rules.for_activity(trigger),
        )

    async def _analyse(self, request: AnalysisRequest) -> None:
        policy = self._conv.cfg.intelligence
        try:
            outcome: AnalysisOutcome = await workflow.execute_activity(
                ANALYZE_CONVERSATION_ACTIVITY,
                request,
                result_type=AnalysisOutcome,
                task_queue=policy.task_queue,
                start_to_close_timeout=timedelta(seconds=120),
                heartbeat_timeout=timedelta(seconds=20),
                schedule_to_close_timeout=timedelta(minutes=10),
                retry_policy=_ANALYSIS_RETRY,
                summary=f"{request.trigger} analysis: {', '.join(request.operators) or 'facts'}",
            )
        except ACTIVITY_FAILURES as exc:
            # Intelligence never holds the conversation up: the turn goes on without it.
            workflow.logger.warning("analysis not done: %s", exc)
            return
        self._act(request, outcome)

    def _act(self, request: AnalysisRequest, outcome: AnalysisOutcome) -> None:
        """The rules: results to actions (each idempotent; the handoff debounced per turn).

        The default rules first, then the run's own (``workflows.conversation.rules``).
        """
        conv = self._conv
        if (result := outcome.of("sentiment")) is not None:
            self._tag(sa.CONVERSATION_SENTIMENT, result.result.get("label"))
        if (result := outcome.of("topic")) is not None:
            self._tag(sa.CONVERSATION_TOPIC, result.result.get("label"))
        if (result := outcome.of("outcome")) is not None:
            self._tag(sa.CONVERSATION_OUTCOME, result.result.get("outcome"))
        asked = outcome.of("do_not_contact")
        if asked is not None and asked.result.get("matched") and not conv.state.do_not_contact:
            conv.state.do_not_contact = True
            conv.note("the customer asked not to be contacted: outbound is off")
        result = outcome.of("escalation")
        level = conv.cfg.intelligence.escalate_on
        if (
            result is not None
            and level is not None
            and result.result.get("level") == level
            and request.trigger is OperatorTrigger.TURN
            and conv.state.status is ConversationStatus.AI
            and self._escalated_at != request.turns[1]
        ):
            self._escalated_at = request.turns[1]
            reasons = result.result.get("reasons")
            why = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
            reason = f"rule {ESCALATION_RULE}" + (f": {why}" if why else "")
            self._handoffs.request(HandoffRequest(reason=reason, source="rule"))
        self._rules.act(request, outcome)

    def _tag(self, key: SearchAttributeKey[str], value: object) -> None:
        if isinstance(value, str) and value:
            workflow.upsert_search_attributes([key.value_set(value[:100])])
