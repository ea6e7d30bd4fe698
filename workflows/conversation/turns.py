"""A text turn: recall, the model (running its tool calls), the reply sent exactly once.

Texts that arrive within the batch window of each other are answered by one turn: a draft
reply is generated as soon as the first text arrives and regenerated if another text
follows before the window is quiet, so batching costs nothing when the model is slower than
the window.

Texts beyond the customer's rate (``CUSTOMER_RATE_LIMIT``) are held: the customer is told,
once a minute at most, that we will get to them, and they are answered together by one turn
as soon as the rate allows. Nothing they wrote is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.conversation import ConversationStatus, InboundMessage
    from switchboard.contract.llm import ChatMessage, LLMRequest, RecallFirst
    from workflows.conversation import budget
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.conversation.intelligence import Intelligence
    from workflows.conversation.memory import Memory
    from workflows.conversation.tools import HANDED_OFF, ToolRunner

RECALL_IN_REPLY_PATCH = "recall-in-reply"
"""A text turn's recall runs in its first model call's activity, not in one of its own."""
FALLBACK_REPLY = "Sorry, I'm having trouble answering right now. Please try again in a moment."


@dataclass
class _Draft:
    """A reply written for a turn, and how its tool calls end the turn (``ToolRound``)."""

    text: str
    turn_end: str | None = None


class TextTurns:
    """Answers customer texts, one turn at a time."""

    def __init__(
        self,
        conv: ConversationBase,
        memory: Memory,
        tools: ToolRunner,
        intelligence: Intelligence,
    ) -> None:
        self._conv = conv
        self._memory = memory
        self._tools = tools
        self._intelligence = intelligence
        self._arrivals = 0  # texts recorded so far: a draft is stale once this moves

    def arrived(self, message: InboundMessage) -> None:
        """A new customer text was recorded (the batch window starts again; it is metered)."""
        self._arrivals += 1
        conv = self._conv
        if (
            message.opt_out is None
            and conv.state.status is ConversationStatus.AI
            and budget.rate_limited(conv.cfg)
            and conv.bounded()
        ):
            budget.admit(conv.state.rate, conv.cfg, workflow.now())

    async def held_back(self, interrupt: Callable[[], bool]) -> bool:
        """Whether the pending texts must wait for the rate limit (the loop looks again).

        Texts that came over the limit wait for the one token their turn takes; meanwhile
        the customer is told (once a window at most) and ``interrupt`` may end the wait.
        """
        conv = self._conv
        rate = conv.state.rate
        if not rate.held or not conv.bounded():
            return False
        now = workflow.now()
        wait = budget.release_in(rate, conv.cfg, now)
        if wait <= timedelta(0):
            budget.release(rate, conv.cfg, now)
            return False
        if budget.notice_due(rate, now):
            rate.notice_at = now
            rate.notices += 1
            channel = conv.state.pending[-1].channel
            key = conv.key(f"slow-down.{rate.notices}")
            await conv.send_text(conv.cfg.rate_limit_message, channel, key=key)
            conv.publish()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(interrupt, timeout=wait, timeout_summary="rate limit")
        return True

    async def take(self) -> str | None:
        """Answer the pending texts. Returns ``"ended: <reason>"`` when the model ended it."""
        conv = self._conv
        conv.state.turn += 1
        turn = conv.state.turn
        first_at = workflow.now()
        while True:
            answering = list(conv.state.pending)
            seen = self._arrivals
            draft = asyncio.create_task(self._generate(turn, answering))
            await asyncio.sleep(0)  # the draft schedules its first activity before any timer
            if await self._quiet_since(seen, first_at):
                break
            draft.cancel()  # a newer text arrived: this draft answers a stale question
            with contextlib.suppress(asyncio.CancelledError):
                await draft
        written = await draft
        reply, ended_by = written.text, written.turn_end
        if conv.state.status is not ConversationStatus.AI and ended_by != HANDED_OFF:
            handoff = conv.state.handoff
            if handoff is None or handoff.source != "tool" or handoff.requested_at < first_at:
                return None  # a human took over while the model was writing: texts go to them
            # A draft of this turn handed off, then a newer text replaced it: say so.
            reply, ended_by = conv.cfg.handoff_message, HANDED_OFF
        await conv.send_text(
            reply,
            answering[-1].channel,
            key=conv.key(str(turn)),
            answering=[m.message_sid for m in answering],
            turn=turn,
        )
        conv.publish()
        self._intelligence.turn_answered()  # beside the next turn, never before this reply
        return ended_by if ended_by != HANDED_OFF else None

    async def _generate(self, turn: int, answering: list[InboundMessage]) -> _Draft:
        """Recall for what the customer wrote, then the model, running its tool calls."""
        conv = self._conv
        channel = answering[-1].channel
        memory = self._memory.enabled()
        recall: RecallFirst | None = None
        forgotten_at = conv.state.forgotten_at
        if memory:  # tools are offered only then (below)
            said = "\n".join(m.body for m in answering)
            if workflow.patched(RECALL_IN_REPLY_PATCH):  # the SDK keeps the answer per run
                recall = self._memory.recall_first(said)  # asked with the model, below
            else:
                await self._memory.refresh(said)
            await self._tools.refresh()  # the MCP tools on offer now (nothing without MCP)
        exchange: list[ChatMessage] = []  # this turn's tool calls and their results
        turn_end: str | None = None
        rounds = conv.cfg.max_tool_rounds
        for round_ in range(rounds + 1):
            request = LLMRequest(
                conversation_id=workflow.info().workflow_id,
                channel=channel,
                turn=turn,
                messages=conv.chat_history(exchange),
                context=conv.context() if memory else "",
                tools=self._tools.offered(channel) if memory and round_ < rounds else [],
                recall=recall if round_ == 0 else None,
            )
            try:
                reply = await conv.llm(request, f"turn {turn}" + (f".{round_}" if round_ else ""))
            except ACTIVITY_FAILURES as exc:
                workflow.logger.warning("reply generation failed: %s", exc)
                return _Draft(FALLBACK_REPLY, turn_end)
            if round_ == 0 and recall is not None:
                self._memory.keep_recalled(reply, forgotten_at)
            if not reply.tool_calls:
                return _Draft(reply.text or FALLBACK_REPLY, turn_end)
            exchange.append(
                ChatMessage(role="assistant", content=reply.text, tool_calls=reply.tool_calls)
            )
            done = await self._tools.run(reply.tool_calls, channel)
            exchange += [
                ChatMessage(role="tool", content=result, tool_call_id=call.id)
                for call, result in zip(reply.tool_calls, done.results, strict=True)
            ]
            turn_end = done.turn_end or turn_end
            if turn_end == HANDED_OFF:
                return _Draft(reply.text or conv.cfg.handoff_message, turn_end)
        return _Draft(FALLBACK_REPLY, turn_end)  # the model kept calling tools when offered none

    async def _quiet_since(self, seen: int, first_at: datetime) -> bool:
        """Wait until the batch window passes with no new text. False if one arrived."""
        cfg = self._conv.cfg
        window = timedelta(seconds=cfg.batch_window_seconds)
        if window <= timedelta(0):
            return True
        cap = timedelta(seconds=cfg.batch_window_cap_seconds)
        remaining = min(window, first_at + cap - workflow.now())
        if remaining <= timedelta(0):
            return True
        try:
            await workflow.wait_condition(
                lambda: self._arrivals != seen,
                timeout=remaining,
                timeout_summary="batch window",
            )
        except TimeoutError:
            return True
        return False
