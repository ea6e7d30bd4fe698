"""The voice side of ``ConversationWorkflow``: call legs, spoken turns, interruptions.

Tokens never pass through here. The gateway holding the ConversationRelay socket asks for
each turn's plan with an update (the reply path waits on nothing but this workflow task),
streams the model into the socket itself, and reports the outcome with a second update.
The workflow stays the judge: it records what was said and heard, approves call actions,
and watches every leg through an activity on the gateway's own task queue, so a gateway that
dies mid-call is noticed within seconds and the caller gets a text instead of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from switchboard.agent.call_control import VOICE_TOOLS, InvalidToolCall, to_action
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import (
        ConversationConfig,
        ConversationState,
        ConversationStatus,
        Role,
    )
    from switchboard.contract.handoff import HandoffPackage
    from switchboard.contract.llm import ChatMessage, ToolCall
    from switchboard.contract.messaging import SendMessageRequest, SendMessageResult
    from switchboard.contract.names import (
        PERFORM_VOICE_ACTIONS_ACTIVITY,
        VOICE_CALL_STARTED_SIGNAL,
        VOICE_CONTEXT_QUERY,
        VOICE_INTERRUPTED_SIGNAL,
        VOICE_PROMPT_UPDATE,
        VOICE_REPLY_UPDATE,
        WATCH_VOICE_LEG_ACTIVITY,
    )
    from switchboard.contract.voice import (
        LegEndReason,
        VoiceAction,
        VoiceActionsRequest,
        VoiceFollowUp,
        VoiceInterrupt,
        VoiceLeg,
        VoiceLegEnd,
        VoiceOutcome,
        VoicePrompt,
        VoiceTurnPlan,
        spoken_text,
    )
    from workflows import state_ops

CALL_CONTROL = frozenset(VOICE_TOOLS)
"""Tools that become actions on the call (digits, language, hang up)."""

LEG_HEARTBEAT_TIMEOUT = timedelta(seconds=4)
"""How long a silent gateway is trusted with a call: the lost-leg detection time."""

_LEG_WATCH_LIMIT = timedelta(hours=5)  # longer than Twilio's longest call
_LEG_START_LIMIT = timedelta(seconds=15)  # the gateway died before the watcher began
_ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)  # the socket lives in one process only
_ATTACH_WAIT = timedelta(seconds=10)
RECONNECT_GRACE = timedelta(seconds=5)
"""How long a broken call may take to come back on a new session before the caller is texted."""
RECONNECT_PATCH = "voice-reconnect-grace"
_RECALL_WAIT = timedelta(seconds=2)
_LEG_FAILURES = (ActivityError, ApplicationError)


class VoiceLegs:
    """Mixed into ``ConversationWorkflow``; owns the live call legs of a run."""

    _state: ConversationState
    _cfg: ConversationConfig
    _legs: dict[str, VoiceLeg]
    _ended_calls: list[str]
    _sessions: list[str]
    _leg_recalls: int
    _voice_rounds: dict[int, int]
    _turn_end: str | None

    def _publish(self) -> None:
        raise NotImplementedError

    def _memory_enabled(self) -> bool:
        raise NotImplementedError

    async def _refresh_memory(self, query: str) -> None:
        raise NotImplementedError

    async def _send(self, request: SendMessageRequest, summary: str) -> SendMessageResult:
        raise NotImplementedError

    if TYPE_CHECKING:

        def _offered_tools(self, channel: Channel) -> list[str]: ...
        def _context(self) -> str: ...
        async def _run_tool_calls(
            self, calls: list[ToolCall], channel: Channel, call_sid: str | None = None
        ) -> list[str]: ...
        async def _package_for_call(self, seq: int) -> HandoffPackage | None: ...
        def _plain_package(self, reason: str) -> HandoffPackage: ...

    # --- legs ---------------------------------------------------------------------------

    @workflow.signal(name=VOICE_CALL_STARTED_SIGNAL)
    async def voice_call_started(self, leg: VoiceLeg) -> None:
        """A ConversationRelay session connected (``setup``); lives until the leg ends.

        A call whose socket broke can come back on a new session (the ``<Connect action>``
        callback answers with fresh ConversationRelay TwiML): the new leg replaces the old
        one, and the caller is not texted.
        """
        if leg.session_id in self._sessions:
            return  # a redelivered setup
        self._sessions.append(leg.session_id)
        reconnected = leg.call_sid in self._legs or leg.call_sid in self._ended_calls
        self._legs[leg.call_sid] = leg
        state = self._state
        if Channel.VOICE not in state.channels:
            state.channels.append(Channel.VOICE)
        state.business_addresses[Channel.VOICE] = leg.business_number
        state.last_activity = leg.started_at
        what = "reconnected" if reconnected else f"started ({leg.direction})"
        self._call_note(f"call {leg.call_sid} {what}")
        self._publish()
        if not reconnected and self._memory_enabled():
            # Beside the watcher, not before it; a prompt that comes first waits for it.
            self._leg_recalls += 1
            recall = asyncio.create_task(self._refresh_memory(""))
            recall.add_done_callback(lambda _: self._recall_done())
            end = await self._watch(leg)
            await recall
        else:
            end = await self._watch(leg)
        if self._legs.get(leg.call_sid) is leg:  # not replaced by a reconnection
            del self._legs[leg.call_sid]
            self._ended_calls.append(leg.call_sid)
        self._call_note(f"call {leg.call_sid} ended: {end.reason}")
        workflow.logger.info("call %s ended: %s", leg.call_sid, end.reason)
        if end.reason in (LegEndReason.DROPPED, LegEndReason.LOST):
            if await self._reconnects(leg):
                self._call_note(f"call {leg.call_sid} continues on a new session")
            else:
                await self._follow_up_dropped_call(leg)
        self._publish()

    async def _reconnects(self, leg: VoiceLeg) -> bool:
        """Whether a broken call comes back within the grace period (or already has)."""
        if not workflow.patched(RECONNECT_PATCH):
            return False  # a conversation that started before reconnection existed
        if leg.call_sid in self._legs:
            return True  # it came back before the old leg was declared lost
        try:
            await workflow.wait_condition(
                lambda: leg.call_sid in self._legs,
                timeout=RECONNECT_GRACE,
                timeout_summary="call reconnect grace",
            )
        except TimeoutError:
            return False
        return True

    async def _watch(self, leg: VoiceLeg) -> VoiceLegEnd:
        try:
            end: VoiceLegEnd = await workflow.execute_activity(
                WATCH_VOICE_LEG_ACTIVITY,
                leg.call_sid,
                task_queue=leg.gateway_queue,
                result_type=VoiceLegEnd,
                start_to_close_timeout=_LEG_WATCH_LIMIT,
                schedule_to_start_timeout=_LEG_START_LIMIT,
                heartbeat_timeout=LEG_HEARTBEAT_TIMEOUT,
                retry_policy=_ONE_ATTEMPT,
                summary=f"call {leg.call_sid}",
            )
        except _LEG_FAILURES as exc:
            workflow.logger.warning("lost call leg %s: %s", leg.call_sid, exc)
            return VoiceLegEnd(call_sid=leg.call_sid, reason=LegEndReason.LOST)
        return end

    async def _follow_up_dropped_call(self, leg: VoiceLeg) -> None:
        """Text the caller once, so a broken call does not end the conversation."""
        if not self._cfg.voice_drop_followup or self._state.opted_out:
            return
        text = self._cfg.voice_drop_followup_text
        request = SendMessageRequest(
            idempotency_key=f"{workflow.info().first_execution_run_id}:dropped:{leg.call_sid}",
            conversation_id=workflow.info().workflow_id,
            channel=Channel.SMS,
            to=leg.customer,
            from_=leg.business_number,
            body=text,
        )
        try:
            sent = await self._send(request, f"dropped call {leg.call_sid}")
        except _LEG_FAILURES as exc:
            workflow.logger.warning("dropped-call follow-up not sent: %s", exc)
            self._call_note(f"dropped-call follow-up not sent: {exc}")
            return
        state = self._state
        if Channel.SMS not in state.channels:
            state.channels.append(Channel.SMS)
        state.business_addresses.setdefault(Channel.SMS, leg.business_number)
        state_ops.record_reply(
            state, Role.ASSISTANT, text, Channel.SMS, workflow.now(),
            message_sid=sent.sid, delivery_status=sent.status,
        )  # fmt: skip

    async def _end_calls(self, reason: str) -> None:
        """Hang up every live leg (the conversation is closing)."""
        for leg in list(self._legs.values()):
            await self._perform_on_call(leg, [VoiceAction(kind="end", reason=reason)])

    def _live_leg(self) -> VoiceLeg | None:
        """The call in progress, if any (the latest when there are several)."""
        return list(self._legs.values())[-1] if self._legs else None

    async def _perform_on_call(self, leg: VoiceLeg, actions: list[VoiceAction]) -> bool:
        """Have the gateway holding the call perform ``actions`` now. False if it could not."""
        request = VoiceActionsRequest(call_sid=leg.call_sid, actions=actions)
        try:
            await workflow.execute_activity(
                PERFORM_VOICE_ACTIONS_ACTIVITY,
                request,
                task_queue=leg.gateway_queue,
                start_to_close_timeout=timedelta(seconds=5),
                schedule_to_start_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary=f"{actions[0].kind} call {leg.call_sid}",
            )
        except _LEG_FAILURES as exc:
            workflow.logger.warning("could not act on call %s: %s", leg.call_sid, exc)
            return False
        return True

    # --- turns --------------------------------------------------------------------------

    def _recall_done(self) -> None:
        self._leg_recalls -= 1

    @workflow.update(name=VOICE_PROMPT_UPDATE)
    async def voice_prompt(self, prompt: VoicePrompt) -> VoiceTurnPlan:
        """The caller finished speaking (or keying): record it and plan the spoken reply."""
        if self._leg_recalls:  # the call's memory is on its way (milliseconds)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: not self._leg_recalls, timeout=_RECALL_WAIT, timeout_summary="recall"
                )
        if prompt.call_sid not in self._legs:
            if prompt.call_sid in self._ended_calls:
                raise ApplicationError("the call has ended", type="CallEnded")
            # The setup signal and the first prompt can arrive in one workflow task.
            await workflow.wait_condition(
                lambda: prompt.call_sid in self._legs, timeout=_ATTACH_WAIT
            )
        state_ops.record_voice_prompt(self._state, spoken_text(prompt), prompt.received_at)
        self._state.turn += 1
        return self._plan().model_copy(update={"decided_at": workflow.now()})

    @workflow.query(name=VOICE_CONTEXT_QUERY)
    def voice_context(self) -> VoiceTurnPlan:
        """What the model would see now, less the next prompt (lets a gateway start early)."""
        return self._plan()

    def _plan(self) -> VoiceTurnPlan:
        """The turn as the model would get it now (nothing when a human has the conversation)."""
        if self._state.status is not ConversationStatus.AI:
            return VoiceTurnPlan(turn=self._state.turn, respond=False)
        return VoiceTurnPlan(
            turn=self._state.turn,
            messages=state_ops.chat_history(self._state),
            tools=self._offered_tools(Channel.VOICE),
            context=self._context(),
        )

    @workflow.update(name=VOICE_REPLY_UPDATE)
    async def voice_reply(self, outcome: VoiceOutcome) -> VoiceFollowUp:
        """What the caller was told; answers with the approved call actions.

        Call-control tools become actions the gateway performs once the reply has been
        heard. Other tools run here; their results come back as the plan of a follow-up
        generation. ``handoff_to_human`` ends the relay session with the handoff package.
        """
        if outcome.failed and not outcome.text:
            self._call_note(f"turn {outcome.turn}: no spoken reply (model unavailable)")
            return VoiceFollowUp()
        text = outcome.text
        if outcome.interrupted:
            text = state_ops.heard_part(outcome.text, outcome.heard or "")
        state_ops.record_reply(
            self._state, Role.ASSISTANT, text, Channel.VOICE, workflow.now(),
            turn=outcome.turn, interrupted=outcome.interrupted,
        )  # fmt: skip
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
                self._call_note(f"tool call refused: {exc}")
                continue
            self._call_note(f"tool {call.name}({call.arguments})")
        self._publish()
        if not others:
            return VoiceFollowUp(actions=actions)
        handoffs, turn_end = self._state.handoffs, self._turn_end
        results = await self._run_tool_calls(others, Channel.VOICE, call_sid=outcome.call_sid)
        self._turn_end = turn_end  # a text turn's marker, not the call's
        if self._state.handoffs != handoffs:  # this reply handed the call to a human
            package = await self._package_for_call(self._state.handoffs)
            if package is None:  # the summary is slow: the gateway fetches the rest later
                package = self._plain_package(
                    self._state.handoff.reason if self._state.handoff else ""
                )
            data = package.handoff_data()
            if not outcome.text.strip():  # the model said nothing: the caller must hear why
                told = self._cfg.handoff_message
                actions.insert(0, VoiceAction(kind="say", text=told))
                state_ops.record_reply(
                    self._state, Role.ASSISTANT, told, Channel.VOICE, workflow.now(),
                    turn=outcome.turn,
                )  # fmt: skip
            actions.append(VoiceAction(kind="end", handoff_data=data, reason="handoff"))
            self._publish()
            return VoiceFollowUp(actions=actions)
        self._voice_rounds[outcome.turn] = rounds = self._voice_rounds.get(outcome.turn, 0) + 1
        exchange = [
            ChatMessage(role="assistant", content=outcome.text, tool_calls=others),
            *(
                ChatMessage(role="tool", content=result, tool_call_id=call.id)
                for call, result in zip(others, results, strict=True)
            ),
        ]
        plan = self._plan()
        if plan.respond:
            plan.messages += exchange
            if rounds >= self._cfg.max_tool_rounds:
                plan.tools = []  # the last round must answer in words
        return VoiceFollowUp(actions=actions, next=plan if plan.respond else None)

    @workflow.signal(name=VOICE_INTERRUPTED_SIGNAL)
    def voice_interrupted(self, interrupt: VoiceInterrupt) -> None:
        """The caller cut a reply short: keep only what they heard."""
        if not state_ops.truncate_spoken_reply(self._state, interrupt.turn, interrupt.heard):
            workflow.logger.info("interrupt for unknown turn %s ignored", interrupt.turn)

    def _call_note(self, text: str) -> None:
        self._state.transcript.append(state_ops.system_note(text, Channel.VOICE, workflow.now()))
