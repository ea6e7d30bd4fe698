"""The delivery activity (``send_message``) against a fake Twilio Messages API.

Every request crosses a real socket; each test runs activity attempts the way Temporal
would retry them (``ActivityEnvironment``), sharing one outbox between attempts. The
end-to-end behaviour (workflow and worker included) is in ``tests/e2e/test_delivery.py``.
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
from switchboard.runtime.outbox import OutboxRecord, SqliteOutbox
from switchboard.twilio.rest import TwilioRestClient
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve

SID = "AC" + "3" * 32
TOKEN = "delivery-auth-token"
CUSTOMER = "+14155550142"
BUSINESS = "+15005550006"
KEY = "conv-+14155550142/run-1/turn-1"


@dataclass
class Delivery:
    """Fake Twilio on a socket, an outbox, and delivery activities over them."""

    twilio: FakeTwilio
    url: str
    outbox: SqliteOutbox
    http: httpx.AsyncClient
    env: ActivityEnvironment

    def activities(self, **overrides: Any) -> DeliveryActivities:
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
        return DeliveryActivities(settings, rest, self.outbox)

    async def send(
        self, activities: DeliveryActivities | None = None, key: str = KEY
    ) -> SendMessageResult:
        request = SendMessageRequest(
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
