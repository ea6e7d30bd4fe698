"""Delivery: send a reply over Twilio Messages, exactly once.

The reply is claimed in the outbox under its idempotency key before the request leaves; a
retry that finds it sent returns the recorded SID, and one that finds it begun without an
answer asks Twilio (``find_message``) before sending again. With PostgreSQL memory the
outbox is shared by every host, so that holds wherever the retry runs. Twilio's refusals are
classed by :func:`switchboard.twilio.failures.classify_twilio_error`.
"""

from __future__ import annotations

import json

import httpx
import structlog
from temporalio import activity

from activities.heartbeat import heartbeating
from switchboard.contract.messaging import SendMessageRequest, SendMessageResult
from switchboard.contract.names import SEND_MESSAGE_ACTIVITY
from switchboard.runtime.config import Settings
from switchboard.runtime.outbox import Outbox
from switchboard.twilio.failures import classify_twilio_error, outbox_note, twilio_unreachable
from switchboard.twilio.rest import TwilioError, TwilioRestClient, utc_from_timestamp

log = structlog.get_logger(__name__)


class DeliveryActivities:
    """Activities that send messages to customers."""

    def __init__(self, settings: Settings, rest: TwilioRestClient, outbox: Outbox) -> None:
        self._rest = rest
        self._outbox = outbox
        self._status_callback = f"{settings.public_base_url}/twilio/messaging/status"

    @activity.defn(name=SEND_MESSAGE_ACTIVITY)
    async def send_message(self, request: SendMessageRequest) -> SendMessageResult:
        """Send one SMS or WhatsApp message; a retry never sends it twice."""
        key = request.idempotency_key
        bound = log.bind(conversation_id=request.conversation_id, channel=request.channel, key=key)
        record = await self._outbox.claim(
            key, request.conversation_id, request.to, request.from_, request.body,
            request.answers,
        )  # fmt: skip
        if record.state == "sent" and record.sid:
            bound.info("send_deduplicated", sid=record.sid)
            return SendMessageResult(
                sid=record.sid, status=record.twilio_status or "queued", deduplicated=True,
                body=record.body, answers=record.answers,
            )  # fmt: skip
        try:
            if record.state == "sending":
                # An earlier attempt (on this host or another) left without an answer: did
                # Twilio get it? A template's recorded body is not what Twilio renders, so a
                # template is matched by number and time alone.
                found = await self._rest.find_message(
                    request.to, request.from_, utc_from_timestamp(record.claimed_at),
                    body=None if request.content_sid else request.body,
                )  # fmt: skip
                if found is not None:
                    await self._outbox.mark_sent(key, found.sid, found.status)
                    bound.info("send_recovered", sid=found.sid)
                    return SendMessageResult(sid=found.sid, status=found.status, deduplicated=True)
            async with heartbeating(1.0):
                sent = await self._rest.create_message(self._form(request))
        except TwilioError as exc:
            error = classify_twilio_error(exc)
            if error.non_retryable:
                await self._outbox.mark_failed(key, outbox_note(exc))
            raise error from exc
        except httpx.TransportError as exc:
            raise twilio_unreachable(exc) from exc
        await self._outbox.mark_sent(key, sent.sid, sent.status)
        bound.info("message_sent", sid=sent.sid, attempt=activity.info().attempt)
        return SendMessageResult(sid=sent.sid, status=sent.status)

    def _form(self, request: SendMessageRequest) -> dict[str, str]:
        form = {"To": request.to, "From": request.from_, "StatusCallback": self._status_callback}
        if request.content_sid:
            # A WhatsApp template (Content API): the only thing that may start a conversation
            # outside the 24-hour window.
            form["ContentSid"] = request.content_sid
            if request.content_variables:
                form["ContentVariables"] = json.dumps(request.content_variables)
        else:
            form["Body"] = request.body
        return form
