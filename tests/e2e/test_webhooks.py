"""What Twilio sees at the messaging endpoints: signatures, duplicates, opt-outs, callbacks."""

from __future__ import annotations

import asyncio

from temporalio.service import RPCError

from gateway.app import create_app
from gateway.conversations import ConversationGateway
from gateway.forms import InboundMessageForm
from switchboard.contract.addresses import conversation_id
from switchboard.devtools.twilio_sim import TwilioWebhookClient, inbound_message_form, new_sid
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, Stack, unique_customer
from tests.support.server import serve


async def _no_conversation(stack: Stack, customer: str) -> bool:
    try:
        await stack.client.get_workflow_handle(conversation_id(customer)).describe()
    except RPCError:
        return True
    return False


async def test_bad_or_missing_signature_is_refused_and_changes_nothing(stack: Stack) -> None:
    customer = unique_customer()
    form = inbound_message_form(customer, BUSINESS_NUMBER, "hi", account_sid=ACCOUNT_SID)
    bad = await stack.webhooks.post("/twilio/messaging", form, signature="c2lnbmF0dXJl")
    assert bad.status_code == 403
    missing = await stack.http.post(f"{stack.gateway_url}/twilio/messaging", data=form)
    assert missing.status_code == 403
    # Signed for another URL (a query string Twilio never sent) does not count either.
    other = stack.webhooks.signature("/twilio/messaging?x=1", form)
    wrong_url = await stack.webhooks.post("/twilio/messaging", form, signature=other)
    assert wrong_url.status_code == 403
    # Tampered body: signature of the original form, different Body.
    signature = stack.webhooks.signature("/twilio/messaging", form)
    tampered = await stack.webhooks.post(
        "/twilio/messaging", {**form, "Body": "give me a refund"}, signature=signature
    )
    assert tampered.status_code == 403
    await asyncio.sleep(0.5)
    assert await _no_conversation(stack, customer)
    assert stack.llm.requests == [] and stack.twilio.requests == []


async def test_query_string_is_part_of_the_signed_url(stack: Stack) -> None:
    customer = unique_customer()
    form = inbound_message_form(customer, BUSINESS_NUMBER, "with query", account_sid=ACCOUNT_SID)
    response = await stack.webhooks.post("/twilio/messaging?tenant=acme", form)
    assert response.status_code == 200
    await stack.twilio.wait_for_messages(1)


async def test_duplicate_delivery_is_answered_once(stack: Stack) -> None:
    customer = unique_customer()
    sid = new_sid()
    token = {"I-Twilio-Idempotency-Token": "tok-" + sid}
    form = inbound_message_form(customer, BUSINESS_NUMBER, "once please", message_sid=sid,
                                account_sid=ACCOUNT_SID)  # fmt: skip
    first, second = await asyncio.gather(
        stack.webhooks.post("/twilio/messaging", form, headers=token),
        stack.webhooks.post("/twilio/messaging", form, headers=token),
    )
    assert first.status_code == second.status_code == 200
    await stack.twilio.wait_for_messages(1)
    # A third copy that bypasses the gateway's memory (another gateway, or a restart):
    # the workflow itself deduplicates by MessageSid.
    inbound = InboundMessageForm.from_form(form).to_inbound()
    await ConversationGateway(stack.client, stack.settings).deliver_inbound(inbound)
    await asyncio.sleep(1.0)
    assert len(stack.twilio.messages) == 1
    assert len(stack.llm.requests) == 1
    view = await stack.describe(customer)
    assert [e.text for e in view.transcript if e.role == "customer"] == ["once please"]


async def test_opt_out_is_recorded_never_answered(stack: Stack) -> None:
    customer = unique_customer()
    response = await stack.text(customer, "STOP", extra={"OptOutType": "STOP"})
    assert response.status_code == 200

    async def recorded() -> bool:
        view = await stack.describe(customer)
        return view.opted_out and view.transcript[-1].text == "STOP"

    await stack.eventually(recorded)
    await asyncio.sleep(0.5)
    assert stack.llm.requests == [] and stack.twilio.requests == []


async def test_malformed_signed_form_is_a_clear_400(stack: Stack) -> None:
    form = {"MessageSid": new_sid(), "Body": "no from"}
    response = await stack.webhooks.post("/twilio/messaging", form)
    assert response.status_code == 400
    assert "From" in response.text


async def test_status_callback_updates_the_transcript(stack: Stack) -> None:
    customer = unique_customer()
    await stack.text(customer, "hello")
    [message] = await stack.twilio.wait_for_messages(1)
    callback_path = "/twilio/messaging/status"
    for status in ("sent", "delivered", "sent"):  # the late "sent" must not win
        form = {
            "MessageSid": message["sid"], "MessageStatus": status, "SmsStatus": status,
            "To": customer, "From": BUSINESS_NUMBER, "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
        }  # fmt: skip
        assert (await stack.webhooks.post(callback_path, form)).status_code == 200

    async def delivered() -> bool:
        view = await stack.describe(customer)
        return view.transcript[-1].delivery_status == "delivered"

    await stack.eventually(delivered)
    await asyncio.sleep(0.3)
    assert (await stack.describe(customer)).transcript[-1].delivery_status == "delivered"


async def test_status_callback_without_a_conversation_is_fine(stack: Stack) -> None:
    form = {"MessageSid": new_sid(), "MessageStatus": "delivered", "To": unique_customer()}
    response = await stack.webhooks.post("/twilio/messaging/status", form)
    assert response.status_code == 200


async def test_health_and_metrics(stack: Stack) -> None:
    health = await stack.http.get(f"{stack.gateway_url}/healthz")
    assert health.status_code == 200
    await stack.text(unique_customer(), "count me")
    metrics = await stack.http.get(f"{stack.gateway_url}/metrics")
    assert metrics.status_code == 200
    assert 'switchboard_webhooks_total{outcome="accepted",route="messaging"}' in metrics.text


async def test_only_a_signature_over_public_base_url_is_accepted(stack: Stack) -> None:
    # PUBLIC_BASE_URL says 127.0.0.1. A client that signs the address it actually called
    # ("localhost", sent as the Host header) is refused: the URL as received is built from
    # the request's own Host, which the sender chooses.
    customer = unique_customer()
    form = inbound_message_form(customer, BUSINESS_NUMBER, "direct", account_sid=ACCOUNT_SID)
    direct = stack.gateway_url.replace("127.0.0.1", "localhost")
    signer = TwilioWebhookClient(stack.http, direct, AUTH_TOKEN)
    assert (await signer.post("/twilio/messaging", form)).status_code == 403
    # Signed over PUBLIC_BASE_URL, the same request is accepted whichever address it used.
    public = TwilioWebhookClient(stack.http, direct, AUTH_TOKEN, stack.settings.public_base_url)
    assert (await public.post("/twilio/messaging", form)).status_code == 200
    # …but a signature for another path still fails.
    other = public.signature("/twilio/messaging/status", form)
    assert (await public.post("/twilio/messaging", form, signature=other)).status_code == 403


async def test_a_webhook_replayed_after_the_conversation_closed_is_dropped(stack: Stack) -> None:
    customer = unique_customer()
    form = inbound_message_form(customer, BUSINESS_NUMBER, "replay me", message_sid=new_sid(),
                                account_sid=ACCOUNT_SID)  # fmt: skip
    assert (await stack.webhooks.post("/twilio/messaging", form)).status_code == 200
    await stack.twilio.wait_for_messages(1)
    closed = await stack.http.post(
        f"{stack.gateway_url}/api/conversations/{conversation_id(customer)}/close"
    )
    assert closed.status_code == 202
    await stack.client.get_workflow_handle(conversation_id(customer)).result()

    # Captured and replayed later, correctly signed, through another gateway host that never
    # saw it: the shared store remembers the MessageSid.
    async with serve(create_app(stack.settings, stack.client)) as other:
        replayer = TwilioWebhookClient(
            stack.http, other, AUTH_TOKEN, stack.settings.public_base_url
        )
        again = await replayer.post("/twilio/messaging", form)
    assert again.status_code == 200
    await asyncio.sleep(1.0)
    assert len(stack.twilio.messages) == 1  # no second reply
    described = await stack.client.get_workflow_handle(conversation_id(customer)).describe()
    assert described.status is not None and described.status.name == "COMPLETED"
