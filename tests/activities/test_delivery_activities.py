"""The delivery activity (``send_message``) against a fake Twilio Messages API.

Every request crosses a real socket; each test runs activity attempts the way Temporal
would retry them (``ActivityEnvironment``), sharing one outbox between attempts (or, for
two hosts, one PostgreSQL outbox table). The end-to-end behaviour (workflow and worker
included) is in ``tests/e2e/test_delivery.py`` and ``tests/e2e/test_crashes.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import DeliveryActivities
from switchboard.contract import errors
from switchboard.contract.addresses import Channel
from switchboard.contract.messaging import SendMessageRequest, SendMessageResult
from switchboard.runtime.config import Settings
from switchboard.runtime.outbox import Outbox, OutboxRecord, SqliteOutbox, open_outbox
from switchboard.twilio.rest import TwilioRestClient
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve

SID = "AC" + "3" * 32
TOKEN = "delivery-auth-token"
CUSTOMER = "+14155550142"
BUSINESS = "+15005550006"
KEY = "conv-+14155550142/run-1/turn-1"
TEMPLATE = "HX" + "5" * 32


def template_request(key: str = KEY) -> SendMessageRequest:
    """A WhatsApp template send; its body is our note of it, not what Twilio renders."""
    return SendMessageRequest(
        idempotency_key=key, conversation_id=f"conv-{CUSTOMER}", channel=Channel.WHATSAPP,
        to=f"whatsapp:{CUSTOMER}", from_=f"whatsapp:{BUSINESS}",
        body="(template: appointment reminder)", content_sid=TEMPLATE,
        content_variables={"1": "3pm"},
    )  # fmt: skip


@dataclass
class Delivery:
    """Fake Twilio on a socket, an outbox, and delivery activities over them."""

    twilio: FakeTwilio
    url: str
    outbox: Outbox
    http: httpx.AsyncClient
    env: ActivityEnvironment

    def activities(self, outbox: Outbox | None = None, **overrides: Any) -> DeliveryActivities:
        values: dict[str, Any] = {
            "twilio_account_sid": SID,
            "twilio_auth_token": TOKEN,
            "twilio_api_base_url": self.url,
            "public_base_url": "https://switchboard.example",
            "log_format": "console",
            **overrides,
        }
        settings = Settings(_env_file=None, **values)
        rest = TwilioRestClient(
            self.http, settings.twilio_rest_base_url, settings.account_sid, settings.auth_token
        )
        return DeliveryActivities(settings, rest, outbox or self.outbox)

    async def send(
        self,
        activities: DeliveryActivities | None = None,
        key: str = KEY,
        request: SendMessageRequest | None = None,
    ) -> SendMessageResult:
        request = request or SendMessageRequest(
            idempotency_key=key, conversation_id=f"conv-{CUSTOMER}", channel=Channel.SMS,
            to=CUSTOMER, from_=BUSINESS, body="hello there",
        )  # fmt: skip
        result: SendMessageResult = await self.env.run(
            (activities or self.activities()).send_message, request
        )
        return result

    async def record(self, key: str = KEY) -> OutboxRecord:
        """The outbox record as the last attempt left it (claiming it again to read it)."""
        return await self.outbox.claim(key, f"conv-{CUSTOMER}", CUSTOMER, BUSINESS, "hello there")


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[FakeTwilio, str]]:
    twilio = FakeTwilio(SID, TOKEN)
    async with serve(twilio.app) as url:
        yield twilio, url


@pytest.fixture
async def d(served: tuple[FakeTwilio, str], tmp_path: Path) -> AsyncIterator[Delivery]:
    twilio, url = served
    twilio.reset()
    outbox = SqliteOutbox(tmp_path / "outbox.db")
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield Delivery(twilio, url, outbox, http, ActivityEnvironment())
    finally:
        outbox.close()


async def failure(d: Delivery, activities: DeliveryActivities | None = None) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await d.send(activities)
    return caught.value


async def test_send_twice_sends_once(d: Delivery) -> None:
    first = await d.send()
    second = await d.send()
    assert second.sid == first.sid and second.deduplicated and not first.deduplicated
    assert len(d.twilio.messages) == 1 and len(d.twilio.requests) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_a_transient_answer_is_retried_and_sends_once(d: Delivery, status: int) -> None:
    # Twilio processed the request but the answer was an error: the retry must look first.
    d.twilio.fail_next(1, status=status, accept=True)
    error = await failure(d)
    assert error.type == errors.TWILIO_UNAVAILABLE and not error.non_retryable
    assert (await d.record()).state == "sending"  # left for the retry to check
    result = await d.send()
    assert result.deduplicated and result.sid == d.twilio.messages[0]["sid"]
    assert len(d.twilio.messages) == 1 and len(d.twilio.requests) == 1
    assert d.twilio.lookups, "the retry should have asked Twilio before resending"


@pytest.mark.parametrize(
    "code", [errors.TWILIO_OPTED_OUT, errors.TWILIO_INVALID_NUMBER, errors.TWILIO_WHATSAPP_WINDOW]
)
@pytest.mark.parametrize("status", [400, 403])
async def test_a_refused_recipient_is_permanent_whatever_the_status(
    d: Delivery, code: int, status: int
) -> None:
    d.twilio.reject_to(CUSTOMER, code, status=status)
    error = await failure(d)
    assert error.type == errors.TWILIO_PERMANENT_ERROR and error.non_retryable
    assert error.details == (code,)  # the workflow reads the code here
    record = await d.record()
    assert (record.state, record.twilio_status) == ("failed", f"error {code}")


async def test_wrong_credentials_are_an_auth_error(d: Delivery) -> None:
    error = await failure(d, d.activities(twilio_auth_token="wrong-token"))
    assert error.type == errors.TWILIO_AUTH_ERROR and error.non_retryable
    assert error.details == (20003,)
    assert (await d.record()).state == "failed"
    assert d.twilio.messages == []


async def test_another_4xx_is_permanent(d: Delivery) -> None:
    d.twilio.fail_next(1, status=400, code=21602)
    error = await failure(d)
    assert error.type == errors.TWILIO_PERMANENT_ERROR and error.non_retryable
    assert error.details == (21602,)


async def test_twilio_unreachable_is_retryable(d: Delivery) -> None:
    down = d.activities(twilio_api_base_url=f"http://127.0.0.1:{free_port()}")
    error = await failure(d, down)
    assert error.type == errors.TWILIO_UNAVAILABLE and not error.non_retryable
    assert error.message == "Twilio unreachable: ConnectError"


# --- the unknown-outcome lookup ---------------------------------------------------------


async def test_a_lost_answer_is_recovered_while_the_message_is_still_queued(d: Delivery) -> None:
    # Twilio took the message but it waits in the sender's queue: no date_sent yet.
    d.twilio.fail_next(1, status=500, accept=True)
    await failure(d)
    assert d.twilio.messages[0]["date_sent"] is None
    result = await d.send()
    assert result.deduplicated and result.sid == d.twilio.messages[0]["sid"]
    assert len(d.twilio.messages) == 1
    (lookup,) = d.twilio.lookups
    assert lookup["query"]["To"] == CUSTOMER and lookup["query"]["From"] == BUSINESS
    assert not [name for name in lookup["query"] if name.startswith("DateSent")]


async def test_a_lost_answer_to_a_template_send_is_recovered(d: Delivery) -> None:
    # Twilio renders the template: the body it lists is not the one the outbox recorded.
    d.twilio.fail_next(1, status=503, accept=True)
    with pytest.raises(ApplicationError):
        await d.send(request=template_request())
    [message] = d.twilio.messages
    assert message["form"]["ContentSid"] == TEMPLATE
    assert message["body"] != template_request().body
    result = await d.send(request=template_request())
    assert result.deduplicated and result.sid == message["sid"]
    assert len(d.twilio.messages) == 1 and len(d.twilio.requests) == 1


async def test_a_retry_on_another_host_asks_twilio_first(
    d: Delivery, memory_url: str, tmp_path: Path
) -> None:
    # Two workers, each with its own working directory: with PostgreSQL memory they share
    # the outbox table, so the second finds the first's attempt and asks Twilio.
    if not memory_url.startswith("postgresql"):
        pytest.skip("a SQLite outbox is one host's")
    settings = Settings(_env_file=None, memory_database_url=memory_url)
    host_a, host_b = open_outbox(settings), open_outbox(settings)
    try:
        d.twilio.fail_next(1, status=500, accept=True)
        await failure(d, d.activities(host_a))
        result = await d.send(d.activities(host_b))
        assert result.deduplicated and result.sid == d.twilio.messages[0]["sid"]
        assert len(d.twilio.messages) == 1 and len(d.twilio.requests) == 1
        again = await d.send(d.activities(host_a))  # and the first host sees it sent
        assert again.deduplicated and again.sid == result.sid and len(d.twilio.lookups) == 1
    finally:
        await host_a.aclose()
        await host_b.aclose()
