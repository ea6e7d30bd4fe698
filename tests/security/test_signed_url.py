"""Signatures are bound to ``PUBLIC_BASE_URL``, never to the request's own ``Host``.

The attack: Twilio signs a request for ``https://other.example/twilio/messaging`` (another
host of the same account, say a staging gateway). Someone who captured it replays it here
with ``Host: other.example``; a gateway that also accepted "the URL as received" would
rebuild exactly the signed URL and take it. Everything here goes over real sockets.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from temporalio.service import RPCError
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.twilio_sim import inbound_message_form, new_sid
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, Stack, unique_customer

OTHER_HOST = "other.example"


def signed_for(url: str, form: dict[str, str]) -> str:
    """What Twilio sends to ``url``: a valid signature, made with the account's token."""
    return str(RequestValidator(AUTH_TOKEN).compute_signature(url, form))


async def no_conversation(stack: Stack, customer: str) -> bool:
    try:
        await stack.client.get_workflow_handle(conversation_id(customer)).describe()
    except RPCError:
        return True
    return False


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_webhook_signed_for_another_host_is_refused(stack: Stack, scheme: str) -> None:
    customer = unique_customer()
    form = inbound_message_form(customer, BUSINESS_NUMBER, "refund me", account_sid=ACCOUNT_SID)
    signature = signed_for(f"{scheme}://{OTHER_HOST}/twilio/messaging", form)
    headers = {"X-Twilio-Signature": signature, "Host": OTHER_HOST}
    if scheme == "https":  # what a proxy's forwarded headers would claim
        headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": OTHER_HOST})
    replayed = await stack.http.post(
        f"{stack.gateway_url}/twilio/messaging", data=form, headers=headers
    )
    assert replayed.status_code == 403
    await asyncio.sleep(0.5)
    assert await no_conversation(stack, customer)
    assert stack.llm.requests == [] and stack.twilio.requests == []


async def test_every_twilio_route_checks_the_public_url_only(stack: Stack) -> None:
    customer = unique_customer()
    forms = {
        "/twilio/messaging/status": {
            "MessageSid": new_sid(), "MessageStatus": "delivered", "To": customer,
        },
        "/twilio/voice": {"CallSid": new_sid("CA"), "From": customer, "To": BUSINESS_NUMBER},
        "/twilio/voice/action": {"CallSid": new_sid("CA"), "From": customer,
                                 "To": BUSINESS_NUMBER, "SessionStatus": "ended"},
        "/twilio/taskrouter": {"EventType": "task.canceled", "TaskSid": "WT" + "0" * 32,
                               "TaskAttributes": f'{{"conversation_id": "conv-{customer}"}}'},
    }  # fmt: skip
    for path, form in forms.items():
        other = signed_for(f"http://{OTHER_HOST}{path}", form)
        replayed = await stack.http.post(
            f"{stack.gateway_url}{path}",
            data=form,
            headers={"X-Twilio-Signature": other, "Host": OTHER_HOST},
        )
        assert replayed.status_code == 403, path
        # The same request signed over PUBLIC_BASE_URL passes the signature check.
        public = signed_for(f"{stack.settings.public_base_url}{path}", form)
        answered = await stack.http.post(
            f"{stack.gateway_url}{path}", data=form, headers={"X-Twilio-Signature": public}
        )
        assert answered.status_code != 403, (path, answered.text)


async def test_a_relay_socket_signed_for_another_host_is_refused(stack: Stack) -> None:
    port = urlsplit(stack.gateway_url).port
    url = f"ws://{OTHER_HOST}/twilio/relay"
    with pytest.raises(InvalidStatus) as refused:
        # The TCP connection goes to the gateway; the Host header says other.example.
        await connect(
            url, host="127.0.0.1", port=port,
            additional_headers={"X-Twilio-Signature": stack.webhooks.sign_url(url)},
        )  # fmt: skip
    assert refused.value.response.status_code == 403
    # Signed over PUBLIC_BASE_URL (as the TwiML wrote it), the same socket opens.
    public = stack.settings.public_base_url.replace("http://", "ws://") + "/twilio/relay"
    ws = await connect(
        url, host="127.0.0.1", port=port,
        additional_headers={"X-Twilio-Signature": stack.webhooks.sign_url(public)},
    )  # fmt: skip
    await ws.close()
