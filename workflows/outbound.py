"""Outbound conversations: a message or call we start (operator API, due callbacks).

The request arrives as the ``outbound`` signal (signal-with-start, so it opens the customer's
conversation when none is open). A message is sent as given, or written by the model from the
request's purpose; on WhatsApp outside the 24-hour customer-service window only a template
may start a conversation, so one is used when given. A call is placed with the Calls API and
answered by our own ConversationRelay socket, which attaches it to this conversation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import ConversationConfig, ConversationState, Role
    from switchboard.contract.names import OUTBOUND_SIGNAL, PLACE_CALL_ACTIVITY
    from switchboard.contract.outbound import OutboundRequest, PlaceCallRequest, PlacedCall
    from workflows.policies import HANDOFF_TARGET_POLICY

_FAILURES = (ActivityError, ApplicationError)
WHATSAPP_WINDOW = timedelta(hours=24)
"""WhatsApp's customer-service window: free-form messages only this long after the customer's."""
_MAX_IDS = 200


class Outbound:
    """Mixed into ``ConversationWorkflow``; starts conversations from our side."""

    _state: ConversationState
    _cfg: ConversationConfig
    _outbound: list[OutboundRequest]

    if TYPE_CHECKING:

        def _note(self, text: str) -> None: ...
        def _publish(self) -> None: ...
        def _callback_fired(self, workflow_id: str) -> None: ...
        def _outbound_sender(self, channel: Channel) -> str | None: ...
        async def _opening(self, purpose: str, channel: Channel) -> str: ...
        async def _send_text(
            self,
            text: str,
            channel: Channel,
            *,
            key: str,
            role: Role = ...,
            content_sid: str | None = ...,
            content_variables: dict[str, str] | None = ...,
            sender: str | None = ...,
        ) -> None: ...

    @workflow.signal(name=OUTBOUND_SIGNAL)
    def outbound(self, request: OutboundRequest) -> None:
        """Start a message or call to the customer (a repeated ``request_id`` is ignored)."""
        state = self._state
        if request.request_id in state.outbound_ids:
            return
        state.outbound_ids.append(request.request_id)
        del state.outbound_ids[:-_MAX_IDS]
        if request.callback_id:
            self._callback_fired(request.request_id)  # a callback's request id: its workflow
        if request.channel is not Channel.VOICE:  # a call joins the channels when answered
            if request.channel not in state.channels:
                state.channels.append(request.channel)
            state.active_channel = request.channel
            self._publish()
        self._outbound.append(request)

    async def _start_outbound(self, request: OutboundRequest) -> None:
        state = self._state
        channel = request.channel
        if request.purpose:
            state.purpose = request.purpose
        state.last_activity = workflow.now()
        what = request.purpose or request.text or "no purpose given"
        self._note(f"outbound {channel} started: {what}")
        key = f"{workflow.info().first_execution_run_id}:outbound:{request.request_id}"
        if channel is Channel.VOICE:
            await self._place_call(request, key)
            return
        # A template when free-form text may not go out (WhatsApp, 24 h after the customer's
        # last word), or when there is nothing else to send.
        template = request.template_sid
        if template and (not self._window_open(channel) or not (request.text or request.purpose)):
            await self._send_text(
                f"[template {template}] {request.text or ''}".strip(),
                channel,
                key=key,
                content_sid=template,
                content_variables=request.template_variables,
                sender=self._outbound_sender(channel),
            )
            return
        text = request.text or await self._opening(request.purpose or "", channel)
        await self._send_text(text, channel, key=key, sender=self._outbound_sender(channel))

    def _window_open(self, channel: Channel) -> bool:
        """Whether free-form messages may go out: always on SMS; 24 h after the customer's."""
        if channel is not Channel.WHATSAPP:
            return True
        since = workflow.now() - WHATSAPP_WINDOW
        return any(
            e.role is Role.CUSTOMER and e.channel is Channel.WHATSAPP and e.at >= since
            for e in self._state.transcript
        )

    async def _place_call(self, request: OutboundRequest, key: str) -> None:
        number = self._outbound_sender(Channel.VOICE)
        if number is None:
            self._note("outbound call not placed: set TWILIO_PHONE_NUMBER")
            return
        try:
            placed: PlacedCall = await workflow.execute_activity(
                PLACE_CALL_ACTIVITY,
                PlaceCallRequest(
                    idempotency_key=key,
                    conversation_id=workflow.info().workflow_id,
                    to=request.to,
                    from_=number,
                    purpose=request.purpose,
                ),
                result_type=PlacedCall,
                **HANDOFF_TARGET_POLICY,
                summary=f"call {request.to}",
            )
        except _FAILURES as exc:
            workflow.logger.warning("outbound call not placed: %s", exc)
            self._note(f"outbound call not placed: {exc}")
            return
        self._note(f"outbound call {placed.sid} placed ({placed.status})")
