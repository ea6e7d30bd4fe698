"""Outbound conversations: a message or call we start (operator API, due callbacks).

The request arrives as the ``outbound`` signal (signal-with-start, so it opens the customer's
conversation when none is open). A message is sent as given, or written by the model from the
request's purpose; on WhatsApp outside the 24-hour customer-service window only a template
may start a conversation, so one is used when given. A call is placed with the Calls API and
answered by our own ConversationRelay socket, which attaches it to this conversation.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from switchboard.contract.addresses import Channel
    from switchboard.contract.conversation import Role
    from switchboard.contract.llm import LLMRequest
    from switchboard.contract.names import PLACE_CALL_ACTIVITY
    from switchboard.contract.outbound import OutboundRequest, PlaceCallRequest, PlacedCall
    from workflows.conversation import state_ops
    from workflows.conversation.base import ACTIVITY_FAILURES, ConversationBase
    from workflows.conversation.callbacks import Callbacks
    from workflows.policies import HANDOFF_TARGET_POLICY

WHATSAPP_WINDOW = timedelta(hours=24)
"""WhatsApp's customer-service window: free-form messages only this long after the customer's."""
_MAX_IDS = 200


class Outbound:
    """Conversations started from our side: the requests waiting, and starting them."""

    def __init__(self, conv: ConversationBase, callbacks: Callbacks) -> None:
        self._conv = conv
        self._callbacks = callbacks
        self._queue: list[OutboundRequest] = []

    def request(self, request: OutboundRequest) -> None:
        """Record a request to start a message or call (a repeated ``request_id`` is ignored)."""
        state = self._conv.state
        if request.request_id in state.outbound_ids:
            return
        state.outbound_ids.append(request.request_id)
        del state.outbound_ids[:-_MAX_IDS]
        if request.callback_id:
            self._callbacks.fired(request.request_id)  # a callback's request id: its workflow
        if request.channel is not Channel.VOICE:  # a call joins the channels when answered
            if request.channel not in state.channels:
                state.channels.append(request.channel)
            state.active_channel = request.channel
            self._conv.publish()
        self._queue.append(request)

    @property
    def pending(self) -> bool:
        """Whether a request waits for the run loop."""
        return bool(self._queue)

    async def start_next(self) -> None:
        """Start the oldest request waiting."""
        await self._start(self._queue.pop(0))

    async def _start(self, request: OutboundRequest) -> None:
        conv = self._conv
        channel = request.channel
        if conv.state.do_not_contact:
            conv.note(f"outbound {channel} refused: the customer asked not to be contacted")
            return
        if request.purpose:
            conv.state.purpose = request.purpose
        conv.state.last_activity = workflow.now()
        what = request.purpose or request.text or "no purpose given"
        conv.note(f"outbound {channel} started: {what}")
        key = conv.key(f"outbound:{request.request_id}")
        if channel is Channel.VOICE:
            await self._place_call(request, key)
            return
        # A template when free-form text may not go out (WhatsApp, 24 h after the customer's
        # last word), or when there is nothing else to send.
        template = request.template_sid
        if template and (not self._window_open(channel) or not (request.text or request.purpose)):
            await conv.send_text(
                f"[template {template}] {request.text or ''}".strip(),
                channel,
                key=key,
                content_sid=template,
                content_variables=request.template_variables,
                sender=conv.outbound_sender(channel),
            )
            return
        text = request.text or await self._opening(request.purpose or "", channel)
        await conv.send_text(text, channel, key=key, sender=conv.outbound_sender(channel))

    async def _opening(self, purpose: str, channel: Channel) -> str:
        """The first message of a conversation we start, written by the model."""
        conv = self._conv
        conv.state.turn += 1
        request = LLMRequest(
            conversation_id=workflow.info().workflow_id,
            channel=channel,
            turn=conv.state.turn,
            messages=state_ops.chat_history(conv.state),
            context=conv.context() + "\n\nWrite the first message to the customer now.",
        )
        try:
            reply = await conv.llm(request, f"opening {conv.state.turn}")
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("opening not written: %s", exc)
            return f"Hello! We're getting in touch about: {purpose}" if purpose else "Hello!"
        return reply.text or f"Hello! We're getting in touch about: {purpose}"

    def _window_open(self, channel: Channel) -> bool:
        """Whether free-form messages may go out: always on SMS; 24 h after the customer's."""
        if channel is not Channel.WHATSAPP:
            return True
        since = workflow.now() - WHATSAPP_WINDOW
        return any(
            e.role is Role.CUSTOMER and e.channel is Channel.WHATSAPP and e.at >= since
            for e in self._conv.state.transcript
        )

    async def _place_call(self, request: OutboundRequest, key: str) -> None:
        conv = self._conv
        number = conv.outbound_sender(Channel.VOICE)
        if number is None:
            conv.note("outbound call not placed: set TWILIO_PHONE_NUMBER")
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
        except ACTIVITY_FAILURES as exc:
            workflow.logger.warning("outbound call not placed: %s", exc)
            conv.note(f"outbound call not placed: {exc}")
            return
        conv.note(f"outbound call {placed.sid} placed ({placed.status})")
