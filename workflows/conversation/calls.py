"""The conversation's call legs: attached, watched, reconnected, followed up, hung up.

Each ConversationRelay session is a *leg* of the conversation. The gateway holding its socket
signals ``voice_call_started``; the leg then lives as long as a heartbeating activity on that
gateway's own task queue, so a gateway that dies mid-call is noticed within seconds. A call
whose socket broke may come back on a new session within a grace period; otherwise the
caller gets one text so the conversation can go on. What is said on the call is
``workflows.conversation.voice_turns``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import Role
    from switchboard.contract.messaging import SendMessageRequest
    from switchboard.contract.names import (
        PERFORM_VOICE_ACTIONS_ACTIVITY,
        WATCH_VOICE_LEG_ACTIVITY,
    )
    from switchboard.contract.voice import (
        LegEndReason,
        VoiceAction,
        VoiceActionsRequest,
        VoiceLeg,
        VoiceLegEnd,
    )
    from workflows.conversation import state_ops
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.conversation.memory import Memory

LEG_HEARTBEAT_TIMEOUT = timedelta(seconds=4)
"""How long a silent gateway is trusted with a call: the lost-leg detection time."""
RECONNECT_GRACE = timedelta(seconds=5)
"""How long a broken call may take to come back on a new session before the caller is texted."""
RECONNECT_PATCH = "voice-reconnect-grace"
CALL_RECALL_PATCH = "call-recall-activity"
"""A call's opening recall is a regular activity (prompts wait for it: see ``Memory.refresh``)."""

_LEG_WATCH_LIMIT = timedelta(hours=5)  # longer than Twilio's longest call
_LEG_START_LIMIT = timedelta(seconds=15)  # the gateway died before the watcher began
_ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)  # the socket lives in one process only
_ATTACH_WAIT = timedelta(seconds=10)


class CallLegs:
    """The live call legs of a conversation run."""

    def __init__(self, conv: ConversationBase, memory: Memory) -> None:
        self._conv = conv
        self._memory = memory
        self._legs: dict[str, VoiceLeg] = {}
        self._ended: list[str] = []
        self._sessions: list[str] = []
        self._recalls = 0

    @property
    def live(self) -> bool:
        """Whether a call is in progress (the run must neither idle out nor continue as new)."""
        return bool(self._legs)

    @property
    def recalling(self) -> bool:
        """Whether a call's memory is still on its way (a prompt waits for it, briefly)."""
        return self._recalls > 0

    def latest(self) -> VoiceLeg | None:
        """The call in progress, if any (the latest when there are several)."""
        return list(self._legs.values())[-1] if self._legs else None

    async def started(self, leg: VoiceLeg) -> None:
        """Attach a leg and watch it until it ends (the ``voice_call_started`` handler).

        A call whose socket broke can come back on a new session (the ``<Connect action>``
        callback answers with fresh ConversationRelay TwiML): the new leg replaces the old
        one, and the caller is not texted.
        """
        if leg.session_id in self._sessions:
            return  # a redelivered setup
        self._sessions.append(leg.session_id)
        reconnected = leg.call_sid in self._legs or leg.call_sid in self._ended
        self._legs[leg.call_sid] = leg
        state = self._conv.state
        if Channel.VOICE not in state.channels:
            state.channels.append(Channel.VOICE)
        state.business_addresses[Channel.VOICE] = leg.business_number
        state.last_activity = leg.started_at
        what = "reconnected" if reconnected else f"started ({leg.direction})"
        self._conv.call_note(f"call {leg.call_sid} {what}")
        self._conv.publish()
        if not reconnected and self._memory.enabled():
            # Beside the watcher, not before it; a prompt that comes first waits for it.
            self._recalls += 1
            regular = workflow.patched(CALL_RECALL_PATCH)  # see ``Memory.refresh``
            recall = asyncio.create_task(self._memory.refresh("", regular=regular))
            recall.add_done_callback(lambda _: self._recall_done())
            end = await self._watch(leg)
            await recall
        else:
            end = await self._watch(leg)
        if self._legs.get(leg.call_sid) is leg:  # not replaced by a reconnection
            del self._legs[leg.call_sid]
            self._ended.append(leg.call_sid)
        self._conv.call_note(f"call {leg.call_sid} ended: {end.reason}")
        workflow.logger.info("call %s ended: %s", leg.call_sid, end.reason)
        if end.reason in (LegEndReason.DROPPED, LegEndReason.LOST):
            if await self._reconnects(leg):
                self._conv.call_note(f"call {leg.call_sid} continues on a new session")
            else:
                await self._follow_up_dropped_call(leg)
        self._conv.publish()

    def _recall_done(self) -> None:
        self._recalls -= 1

    async def attached(self, call_sid: str) -> None:
        """Wait (bounded) for the leg of ``call_sid``: its setup and first prompt can race.

        Raises:
            ApplicationError: ``CallEnded`` when that call has already ended.
        """
        if call_sid in self._legs:
            return
        if call_sid in self._ended:
            raise ApplicationError("the call has ended", type="CallEnded")
        # The setup signal and the first prompt can arrive in one workflow task.
        await workflow.wait_condition(lambda: call_sid in self._legs, timeout=_ATTACH_WAIT)

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
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("lost call leg %s: %s", leg.call_sid, exc)
            return VoiceLegEnd(call_sid=leg.call_sid, reason=LegEndReason.LOST)
        return end

    async def _follow_up_dropped_call(self, leg: VoiceLeg) -> None:
        """Text the caller once, so a broken call does not end the conversation."""
        conv = self._conv
        if not conv.cfg.voice_drop_followup or conv.state.opted_out:
            return
        text = conv.cfg.voice_drop_followup_text
        request = SendMessageRequest(
            idempotency_key=conv.key(f"dropped:{leg.call_sid}"),
            conversation_id=workflow.info().workflow_id,
            channel=Channel.SMS,
            to=leg.customer,
            from_=leg.business_number,
            body=text,
        )
        try:
            sent = await conv.send(request, f"dropped call {leg.call_sid}")
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("dropped-call follow-up not sent: %s", exc)
            conv.call_note(f"dropped-call follow-up not sent: {exc}")
            return
        state = conv.state
        if Channel.SMS not in state.channels:
            state.channels.append(Channel.SMS)
        state.business_addresses.setdefault(Channel.SMS, leg.business_number)
        state_ops.record_reply(
            state, Role.ASSISTANT, text, Channel.SMS, workflow.now(),
            message_sid=sent.sid, delivery_status=sent.status,
        )  # fmt: skip

    async def end_all(self, reason: str) -> None:
        """Hang up every live leg (the conversation is closing)."""
        for leg in list(self._legs.values()):
            await self.perform(leg, [VoiceAction(kind="end", reason=reason)])

    async def perform(self, leg: VoiceLeg, actions: list[VoiceAction]) -> bool:
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
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("could not act on call %s: %s", leg.call_sid, exc)
            return False
        return True
