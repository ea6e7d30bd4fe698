"""Twilio's form-encoded webhooks, parsed once into typed models at the edge.

Twilio adds parameters without notice, so unknown fields are kept out of the models but
still take part in signature validation (which sees the raw form).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from switchboard.contract.addresses import Channel, channel_of, to_e164
from switchboard.contract.conversation import DeliveryStatusUpdate, InboundMessage, OptOut


def _blank_to_none(value: object) -> object:
    return None if value == "" else value


class _TwilioForm(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class InboundMessageForm(_TwilioForm):
    """``POST /twilio/messaging``: an inbound SMS, MMS or WhatsApp message."""

    message_sid: str = Field(alias="MessageSid", min_length=2)
    account_sid: str = Field(default="", alias="AccountSid")
    from_: str = Field(alias="From", min_length=1)
    to: str = Field(alias="To", min_length=1)
    body: str = Field(default="", alias="Body")
    num_media: int = Field(default=0, alias="NumMedia", ge=0, le=10)
    profile_name: Annotated[str | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, alias="ProfileName"
    )
    opt_out_type: Annotated[OptOut | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, alias="OptOutType"
    )
    media_urls: list[str] = Field(default_factory=list)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> InboundMessageForm:
        """Parse a raw form, collecting ``MediaUrl0``… into ``media_urls``.

        Raises:
            pydantic.ValidationError: a required field is missing or malformed.
        """
        media = [form[f"MediaUrl{i}"] for i in range(10) if f"MediaUrl{i}" in form]
        return cls.model_validate({**form, "media_urls": media})

    @property
    def channel(self) -> Channel:
        """SMS or WhatsApp, from the ``From`` address."""
        return channel_of(self.from_)

    @property
    def customer(self) -> str:
        """The customer's E.164 number."""
        return to_e164(self.from_)

    def to_inbound(self, received_at: datetime | None = None) -> InboundMessage:
        """The workflow's view of this message."""
        return InboundMessage(
            message_sid=self.message_sid,
            customer=self.customer,
            channel=self.channel,
            from_address=self.from_,
            to_address=self.to,
            body=self.body,
            media_urls=self.media_urls,
            profile_name=self.profile_name,
            opt_out=self.opt_out_type,
            received_at=received_at or datetime.now(UTC),
        )


class StatusCallbackForm(_TwilioForm):
    """``POST /twilio/messaging/status``: a delivery status callback."""

    message_sid: str = Field(alias="MessageSid", min_length=2)
    message_status: str = Field(alias="MessageStatus", min_length=1)
    to: str = Field(default="", alias="To")
    from_: str = Field(default="", alias="From")
    error_code: Annotated[int | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, alias="ErrorCode"
    )

    def to_update(self, at: datetime | None = None) -> DeliveryStatusUpdate:
        """The workflow's view of this callback."""
        return DeliveryStatusUpdate(
            message_sid=self.message_sid,
            status=self.message_status.lower(),
            error_code=self.error_code,
            at=at or datetime.now(UTC),
        )
