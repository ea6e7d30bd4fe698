"""Twilio's messaging webhooks parsed into typed models, using recorded bodies (twilio.md §9.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from pydantic import ValidationError

from gateway.forms import InboundMessageForm, StatusCallbackForm
from switchboard.contract.addresses import Channel
from switchboard.contract.conversation import OptOut

# nyaruka/courier twiml handler test (AccountSid is a placeholder there).
COURIER_SMS = (
    "ToCountry=US&ToState=District+Of+Columbia&SmsMessageSid=SMe287d7109a5a925f182f0e07fe5b223b"
    "&NumMedia=0&ToCity=&FromZip=01022&SmsSid=SMe287d7109a5a925f182f0e07fe5b223b&FromState=MA"
    "&SmsStatus=received&FromCity=CHICOPEE&Body=Msg&FromCountry=US&To=%2B12028831111&ToZip="
    "&NumSegments=1&MessageSid=SMe287d7109a5a925f182f0e07fe5b223b&AccountSid=acctid"
    "&From=%2B14133881111&ApiVersion=2010-04-01"
)
COURIER_MMS = COURIER_SMS.replace("NumMedia=0", "NumMedia=2&MediaUrl0=cat.jpg&MediaUrl1=dog.jpg")
# twilio-go test recording.
TWILIO_GO_SMS = (
    "ToCountry=US&ToState=CA&SmsMessageSid=SM5ab7891328b440f04b7c83b459fc85fd&NumMedia=0"
    "&ToCity=SAN+FRANCISCO&FromZip=30512&SmsSid=SM5ab7891328b440f04b7c83b459fc85fd&FromState=GA"
    "&SmsStatus=received&FromCity=BLAIRSVILLE&Body=Blah+blah&FromCountry=US&To=%2B14152001331"
    "&ToZip=94105&NumSegments=1&MessageSid=SM5ab7891328b440f04b7c83b459fc85fd"
    "&AccountSid=ACe24e29bdbc2e7664b315d7629ed3b9d9&From=%2B17067815146&ApiVersion=2010-04-01"
)
# Real WhatsApp sandbox recording.
WHATSAPP_SANDBOX = (
    "SmsMessageSid=SM01cd3925943ee3504f8a5c42d88efdf6&NumMedia=0&ProfileName=Jhonata"
    "&SmsSid=SM01cd3925943ee3504f8a5c42d88efdf6&WaId=558282136275&SmsStatus=received"
    "&Body=Ol%C3%A1&To=whatsapp%3A%2B14155238886&NumSegments=1&ReferralNumMedia=0"
    "&MessageSid=SM01cd3925943ee3504f8a5c42d88efdf6&AccountSid=ACccec30b8f64bfa44a6dc60d2a447f5c5"
    "&From=whatsapp%3A%2B558282136275&ApiVersion=2010-04-01"
)
OPT_OUT = (
    "MessageSid=SM123&AccountSid=AC123&From=%2B15555550123&To=%2B15555550456&Body=STOP"
    "&NumMedia=1&MediaUrl0=https%3A%2F%2Fexample.com%2Fa.jpg&MessagingServiceSid=MG123"
    "&OptOutType=STOP"
)
WHATSAPP_STATUS = (
    "SmsSid=SMc4c96554c26604013c6b7f1b4bXXXXX&SmsStatus=sent&MessageStatus=sent"
    "&ChannelToAddress=%2B91994541XXXX&To=whatsapp%3A%2B919900000000&ChannelPrefix=whatsapp"
    "&MessageSid=SMc4c96554c26604013c6b7f1b4b6DDDDD&AccountSid=AC8e904faad99a05efe123e12515ZZZZZ"
    "&StructuredMessage=false&From=whatsapp%3A%2B14155238886&ApiVersion=2010-04-01"
    "&ChannelInstallSid=XEcc20d939f803ee381f2442185EEEEE"
)
COURIER_DELIVERED = "MessageSid=SMe287d7109a5a925f182f0e07fe5b223b&MessageStatus=delivered"
COURIER_FAILED_21610 = (
    "ErrorCode=21610&MessageSid=SMe287d7109a5a925f182f0e07fe5b223b&MessageStatus=failed"
    "&To=%2B12028831111"
)

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def decode(body: str) -> dict[str, str]:
    """A form-encoded body as the gateway sees it."""
    return dict(parse_qsl(body, keep_blank_values=True, strict_parsing=True))


def inbound(body: str) -> InboundMessageForm:
    return InboundMessageForm.from_form(decode(body))


def test_courier_sms() -> None:
    form = inbound(COURIER_SMS)
    assert form.message_sid == "SMe287d7109a5a925f182f0e07fe5b223b"
    assert form.account_sid == "acctid"
    assert form.from_ == "+14133881111"
    assert form.to == "+12028831111"
    assert form.body == "Msg"
    assert form.num_media == 0
    assert form.media_urls == []
    assert form.profile_name is None
    assert form.opt_out_type is None
    assert form.channel is Channel.SMS
    assert form.customer == "+14133881111"


def test_courier_sms_to_inbound() -> None:
    message = inbound(COURIER_SMS).to_inbound(received_at=AT)
    assert message.message_sid == "SMe287d7109a5a925f182f0e07fe5b223b"
    assert message.customer == "+14133881111"
    assert message.channel is Channel.SMS
    assert message.from_address == "+14133881111"
    assert message.to_address == "+12028831111"
    assert message.body == "Msg"
    assert message.media_urls == []
    assert message.profile_name is None
    assert message.opt_out is None
    assert message.received_at == AT


def test_to_inbound_defaults_received_at_to_now() -> None:
    before = datetime.now(UTC)
    message = inbound(COURIER_SMS).to_inbound()
    assert before <= message.received_at <= datetime.now(UTC)


def test_twilio_go_sms_recording() -> None:
    message = inbound(TWILIO_GO_SMS).to_inbound(received_at=AT)
    assert message.message_sid == "SM5ab7891328b440f04b7c83b459fc85fd"
    assert message.customer == "+17067815146"
    assert message.to_address == "+14152001331"
    assert message.body == "Blah blah"
    assert message.channel is Channel.SMS


def test_mms_collects_media_urls() -> None:
    form = inbound(COURIER_MMS)
    assert form.num_media == 2
    assert form.media_urls == ["cat.jpg", "dog.jpg"]
    assert form.to_inbound(received_at=AT).media_urls == ["cat.jpg", "dog.jpg"]


def test_whatsapp_sandbox_recording() -> None:
    form = inbound(WHATSAPP_SANDBOX)
    assert form.channel is Channel.WHATSAPP
    assert form.customer == "+558282136275"
    assert form.profile_name == "Jhonata"
    assert form.body == "Olá"
    message = form.to_inbound(received_at=AT)
    assert message.channel is Channel.WHATSAPP
    assert message.customer == "+558282136275"
    assert message.from_address == "whatsapp:+558282136275"
    assert message.to_address == "whatsapp:+14155238886"
    assert message.profile_name == "Jhonata"
    assert message.body == "Olá"


def test_courier_whatsapp_variant() -> None:
    body = COURIER_SMS.replace("To=%2B", "To=whatsapp:%2B").replace("From=%2B", "From=whatsapp:%2B")
    form = inbound(body)
    assert form.channel is Channel.WHATSAPP
    assert form.customer == "+14133881111"
    assert form.to == "whatsapp:+12028831111"


def test_unknown_parameters_are_ignored() -> None:
    form = inbound(COURIER_SMS + "&ButtonText=Confirm&SomethingNew=1")
    assert form.body == "Msg"


def test_opt_out() -> None:
    form = inbound(OPT_OUT)
    assert form.opt_out_type is OptOut.STOP
    assert form.body == "STOP"
    assert form.media_urls == ["https://example.com/a.jpg"]
    message = form.to_inbound(received_at=AT)
    assert message.opt_out is OptOut.STOP
    assert message.customer == "+15555550123"


def test_blank_profile_name_and_opt_out_type_are_none() -> None:
    form = inbound(COURIER_SMS + "&ProfileName=&OptOutType=")
    assert form.profile_name is None
    assert form.opt_out_type is None


@pytest.mark.parametrize("missing", ["From", "MessageSid", "To"])
def test_missing_required_field(missing: str) -> None:
    form = decode(COURIER_SMS)
    del form[missing]
    with pytest.raises(ValidationError):
        InboundMessageForm.from_form(form)


@pytest.mark.parametrize(("name", "value"), [("From", ""), ("MessageSid", ""), ("NumMedia", "x")])
def test_malformed_field(name: str, value: str) -> None:
    form = decode(COURIER_SMS)
    form[name] = value
    with pytest.raises(ValidationError):
        InboundMessageForm.from_form(form)


# --- status callbacks -------------------------------------------------------------------


def status(body: str) -> StatusCallbackForm:
    return StatusCallbackForm.model_validate(decode(body))


def test_whatsapp_status_callback() -> None:
    form = status(WHATSAPP_STATUS)
    assert form.message_sid == "SMc4c96554c26604013c6b7f1b4b6DDDDD"
    assert form.message_status == "sent"
    assert form.to == "whatsapp:+919900000000"
    assert form.from_ == "whatsapp:+14155238886"
    assert form.error_code is None
    update = form.to_update(at=AT)
    assert update.message_sid == "SMc4c96554c26604013c6b7f1b4b6DDDDD"
    assert update.status == "sent"
    assert update.error_code is None
    assert update.at == AT


def test_courier_delivered() -> None:
    update = status(COURIER_DELIVERED).to_update(at=AT)
    assert update.message_sid == "SMe287d7109a5a925f182f0e07fe5b223b"
    assert update.status == "delivered"
    assert update.error_code is None


def test_failed_with_error_code() -> None:
    form = status(COURIER_FAILED_21610)
    assert form.error_code == 21610
    assert form.to == "+12028831111"
    update = form.to_update(at=AT)
    assert update.status == "failed"
    assert update.error_code == 21610


def test_blank_error_code_is_none() -> None:
    assert status(COURIER_DELIVERED + "&ErrorCode=").error_code is None


def test_to_update_lower_cases_the_status() -> None:
    form = status("MessageSid=SM1&MessageStatus=Delivered")
    assert form.message_status == "Delivered"
    assert form.to_update(at=AT).status == "delivered"


@pytest.mark.parametrize(
    "body", ["MessageStatus=sent", "MessageSid=SM1", "MessageSid=SM1&MessageStatus="]
)
def test_status_callback_missing_fields(body: str) -> None:
    with pytest.raises(ValidationError):
        status(body)
