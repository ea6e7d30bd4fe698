"""Spoken turns: the plan for each reply, what the caller heard, the approved call actions.

Tokens never pass through the workflow. The gateway holding the ConversationRelay socket
asks for each turn's plan with the ``voice_prompt`` update (the reply path waits on nothing
but this workflow task), streams the model into the socket itself, and reports the outcome
with ``voice_reply``. The workflow stays the judge: it records what was said and heard,
approves call actions, runs other tool calls and plans the follow-up generation.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from switchboard.agent.call_control import VOICE_TOOLS, InvalidToolCall, to_action
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import ConversationStatus, Role
    from switchboard.contract.llm import ChatMessage, ToolCall
    from switchboard.contract.voice import (
        VoiceAction,
        VoiceFollowUp,
        VoiceInterrupt,
        VoiceOutcome,
        VoicePrompt,
        VoiceTurnPlan,
        spoken_text,
    )
    from workflows.conversation import state_ops
    from workflows.conversation.base import ConversationBase
    from workflows.conversation.calls import CallLegs
    from workflows.conversation.handoff import Handoffs
    from workflows.conversation.intelligence import Intelligence
    from workflows.conversation.tools import ToolRunner

CALL_CONTROL = frozenset(VOICE_TOOLS)
"""Tools that become actions on the call (digits, language, hang up)."""

_RECALL_WAIT = timedelta(seconds=2)


class VoiceTurns:
    """Plans and records the spoken turns of every call of the conversation."""

    def __init__(
        self,
        conv: ConversationBase,
        calls: CallLegs,
        tools: ToolRunner,
        handoffs: Handoffs,
        intelligence: Intelligence,
    ) -> None:
        self._conv = conv
        self._calls = calls
        self._tools = tools
        self._handoffs = handoffs
        self._intelligence = intelligence
        self._rounds: dict[int, int] = {}  # tool rounds run so far, by turn
        self._answered = 0  # the latest turn counted as answered (follow-ups share its number)

    async def prompt(self, prompt: VoicePrompt) -> VoiceTurnPlan:
        """The caller finished speaking (or keying): record it and plan the spoken reply."""
        if self._calls.recalling:  # the call's memory is on its way (milliseconds)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: not self._calls.recalling,
                    timeout=_RECALL_WAIT,
                    timeout_summary="recall",
                )
        await self._calls.attached(prompt.call_sid)
        # Before the prompt is recorded (a text handled meanwhile is in the plan too).
        await self._tools.refresh()  # the MCP tools on offer now (nothing without MCP)
        state_ops.record_voice_prompt(self._conv.state, spoken_text(prompt), prompt.received_at)
        self._conv.state.turn += 1
        return self.plan().model_copy(update={"decided_at": workflow.now()})

    def plan(self) -> VoiceTurnPlan:
        """The turn as the model would get it now (nothing when a human has the conversation)."""
        state = self._conv.state
        if state.status is not ConversationStatus.AI:
            return VoiceTurnPlan(turn=state.turn, respond=False)
        return VoiceTurnPlan(
            turn=state.turn,
            messages=self._conv.chat_history(),
            tools=self._tools.offered(Channel.VOICE),
            context=self._conv.context(),
        )

    async def reply(self, outcome: VoiceOutcome) -> VoiceFollowUp:
        """What the caller was told; answers with the approved call actions.

        Call-control tools become actions the gateway performs once the reply has been
        heard. Other tools run here; their results come back as the plan of a follow-up
        generation. ``handoff_to_human`` ends the relay session with the handoff package.
        """
        conv = self._conv
        conv.state.model_tokens += outcome.tokens
        if outcome.failed and not outcome.text:
            conv.call_note(f"turn {outcome.turn}: no spoken reply (model unavailable)")
            return VoiceFollowUp()
        text = outcome.text
        if outcome.interrupted:
            text = state_ops.heard_part(outcome.text, outcome.heard or "")
        state_ops.record_reply(
            conv.state, Role.ASSISTANT, text, Channel.VOICE, workflow.now(),
            turn=outcome.turn, interrupted=outcome.interrupted,
        )  # fmt: skip
        if outcome.turn > self._answered:
            self._answered = outcome.turn
            self._intelligence.turn_answered()
        if outcome.interrupted:
            return VoiceFollowUp()  # tool calls of a cut-off generation never run
        actions: list[VoiceAction] = []
        others: list[ToolCall] = []
        for call in outcome.tool_calls:
            if call.name not in CALL_CONTROL:
                others.append(call)
                continue
            try:
                actions.append(to_action(call))
            except InvalidToolCall as exc:
                workflow.logger.warning("tool call refused: %s", exc)
                conv.call_note(f"tool call refused: {exc}")
                continue
            conv.call_note(f"tool {call.name}({call.arguments})")
        conv.publish()
        if not others:
            return VoiceFollowUp(actions=actions)
        handoffs = conv.state.handoffs
        done = await self._tools.run(others, Channel.VOICE, call_sid=outcome.call_sid)
        if conv.state.handoffs != handoffs:  # this reply handed the call to a human
            return await self._hand_off_call(outcome, actions)
        self._rounds[outcome.turn] = rounds = self._rounds.get(outcome.turn, 0) + 1
        exchange = [
            ChatMessage(role="assistant", content=outcome.text, tool_calls=others),
            *(
                ChatMessage(role="tool", content=result, tool_call_id=call.id)
                for call, result in zip(others, done.results, strict=True)
            ),
        ]
        plan = self.plan()
        if plan.respond:
            plan.messages = conv.chat_history(exchange)
            if rounds >= conv.cfg.max_tool_rounds:
                plan.tools = []  # the last round must answer in words
        return VoiceFollowUp(actions=actions, next=plan if plan.respond else None)

    async def _hand_off_call(
        self, outcome: VoiceOutcome, actions: list[VoiceAction]
    ) -> VoiceFollowUp:
        """End the relay session with the handoff package; the caller hears why first."""
        conv = self._conv
        package = await self._handoffs.package_for_call(conv.state.handoffs)
        if package is None:  # the summary is slow: the gateway fetches the rest later
            handoff = conv.state.handoff
            package = self._handoffs.plain_package(handoff.reason if handoff else "")
        data = package.handoff_data()
        if not outcome.text.strip():  # the model said nothing: the caller must hear why
            told = conv.cfg.handoff_message
            actions.insert(0, VoiceAction(kind="say", text=told))
            state_ops.record_reply(
                conv.state, Role.ASSISTANT, told, Channel.VOICE, workflow.now(),
                turn=outcome.turn,
            )  # fmt: skip
        actions.append(VoiceAction(kind="end", handoff_data=data, reason="handoff"))
        conv.publish()
        return VoiceFollowUp(actions=actions)

    def interrupted(self, interrupt: VoiceInterrupt) -> None:
        """The caller cut a reply short: keep only what they heard."""
        if not state_ops.truncate_spoken_reply(self._conv.state, interrupt.turn, interrupt.heard):
            workflow.logger.info("interrupt for unknown turn %s ignored", interrupt.turn)
