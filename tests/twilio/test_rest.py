"""The async Twilio Messages client, against ``httpx.MockTransport``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from switchboard.twilio.rest import SentMessage, TwilioError, TwilioRestClient, utc_from_timestamp

SID = "AC" + "1" * 32
TOKEN = "test-auth-token"
BASE = "http://twilio.test"
MESSAGES = f"{BASE}/2010-04-01/Accounts/{SID}/Messages.json"
TO = "+14155550100"
FROM = "+15005550006"
CREATED = "Wed, 18 Aug 2010 20:01:40 +0000"
CREATED_AT = datetime(2010, 8, 18, 20, 1, 40, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A mock transport that records requests and answers with ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def client(self, base: str = BASE) -> tuple[httpx.AsyncClient, TwilioRestClient]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self))
        return http, TwilioRestClient(http, base, SID, TOKEN)


def resource(sid: str, body: str, *, to: str = TO, created: str | None = CREATED) -> dict[str, Any]:
    return {
        "sid": sid,
        "status": "queued",
        "to": to,
        "from": FROM,
        "body": body,
        "date_created": created,
        "direction": "outbound-api",
    }


def basic_auth() -> str:
    return "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def rfc2822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


async def test_create_message() -> None:
    recorder = Recorder(lambda _: httpx.Response(201, json=resource("SM" + "a" * 32, "hello")))
    http, client = recorder.client(BASE + "/")  # a trailing slash is tolerated
    async with http:
        sent = await client.create_message({"To": TO, "From": FROM, "Body": "hello & bye"})
    assert sent == SentMessage(
        sid="SM" + "a" * 32,
        status="queued",
        to=TO,
        from_=FROM,
        body="hello",
        date_created=CREATED_AT,
    )
    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == MESSAGES
    assert request.headers["authorization"] == basic_auth()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.content.decode())) == {
        "To": TO,
        "From": FROM,
        "Body": "hello & bye",
    }


async def test_create_message_defaults() -> None:
    recorder = Recorder(lambda _: httpx.Response(201, json={"sid": "SM1"}))
    http, client = recorder.client()
    async with http:
        sent = await client.create_message({"To": TO, "From": FROM, "Body": "x"})
    assert sent.status == "queued"
    assert sent.date_created is None


async def test_twilio_error_with_code() -> None:
    error = {
        "code": 21610,
        "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610",
        "status": 400,
    }
    recorder = Recorder(lambda _: httpx.Response(400, json=error))
    http, client = recorder.client()
    async with http:
        with pytest.raises(TwilioError) as caught:
            await client.create_message({"To": TO, "From": FROM, "Body": "x"})
    assert caught.value.http_status == 400
    assert caught.value.code == 21610
    assert caught.value.message == "Attempt to send to unsubscribed recipient"
    assert "21610" in str(caught.value)


async def test_twilio_error_with_a_string_code() -> None:
    recorder = Recorder(lambda _: httpx.Response(429, json={"code": "20429", "message": "busy"}))
    http, client = recorder.client()
    async with http:
        with pytest.raises(TwilioError) as caught:
            await client.create_message({"To": TO})
    assert (caught.value.http_status, caught.value.code) == (429, 20429)


async def test_server_error_without_json() -> None:
    recorder = Recorder(lambda _: httpx.Response(500, text="<html>Internal Server Error</html>"))
    http, client = recorder.client()
    async with http:
        with pytest.raises(TwilioError) as caught:
            await client.create_message({"To": TO, "From": FROM, "Body": "x"})
    assert caught.value.http_status == 500
    assert caught.value.code is None
    assert caught.value.message == "Internal Server Error"


async def test_transport_errors_propagate() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http, client = Recorder(refuse).client()
    async with http:
        with pytest.raises(httpx.TransportError):
            await client.create_message({"To": TO})


# --- find_message -----------------------------------------------------------------------


def listing(*messages: dict[str, Any]) -> Handler:
    page = {"messages": list(messages), "page": 0, "page_size": 50}
    return lambda _: httpx.Response(200, content=json.dumps(page).encode())


SINCE = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)


async def find(
    handler: Handler, body: str | None = "hello", since: datetime = SINCE
) -> tuple[SentMessage | None, list[httpx.Request]]:
    recorder = Recorder(handler)
    http, client = recorder.client()
    async with http:
        found = await client.find_message(TO, FROM, since, body=body)
    return found, recorder.requests


async def test_find_message_sends_the_filters() -> None:
    _, requests = await find(listing())
    (request,) = requests
    assert request.method == "GET"
    assert request.url.copy_with(query=None) == httpx.URL(MESSAGES)
    assert request.headers["authorization"] == basic_auth()
    params = dict(request.url.params)
    assert params["To"] == TO
    assert params["From"] == FROM
    # A queued message has no DateSent yet: any DateSent filter could hide it.
    assert not [name for name in params if name.startswith("DateSent")]


async def test_find_message_returns_the_match() -> None:
    created = rfc2822(SINCE + timedelta(seconds=2))
    found, _ = await find(
        listing(
            resource("SMother", "something else", created=created),
            resource("SMwrongto", "hello", to="+14155550199", created=created),
            resource("SMmatch", "hello", created=created),
        )
    )
    assert found is not None
    assert found.sid == "SMmatch"
    assert found.date_created == SINCE + timedelta(seconds=2)


async def test_find_message_allows_five_seconds_of_clock_skew() -> None:
    found, _ = await find(
        listing(resource("SMskew", "hello", created=rfc2822(SINCE - timedelta(seconds=4))))
    )
    assert found is not None and found.sid == "SMskew"


async def test_find_message_ignores_older_messages() -> None:
    old = rfc2822(SINCE - timedelta(seconds=30))
    found, _ = await find(listing(resource("SMold", "hello", created=old)))
    assert found is None


async def test_find_message_with_no_messages() -> None:
    found, _ = await find(listing())
    assert found is None
    found, _ = await find(lambda _: httpx.Response(200, json={}))
    assert found is None


async def test_find_message_without_a_date_matches() -> None:
    found, _ = await find(listing(resource("SMnodate", "hello", created=None)))
    assert found is not None and found.sid == "SMnodate"


async def test_find_message_takes_the_oldest_match_since_the_claim() -> None:
    # Newest first, as Twilio lists: the first message created after the claim is ours.
    found, _ = await find(
        listing(
            resource("SMlater", "hello", created=rfc2822(SINCE + timedelta(seconds=9))),
            resource("SMours", "hello", created=rfc2822(SINCE + timedelta(seconds=1))),
            resource("SMbefore", "hello", created=rfc2822(SINCE - timedelta(minutes=5))),
        )
    )
    assert found is not None and found.sid == "SMours"


async def test_find_message_for_a_template_ignores_the_body() -> None:
    rendered = rfc2822(SINCE + timedelta(seconds=1))
    page = listing(
        resource("SMtemplate", "Your appointment is confirmed for 3pm.", created=rendered),
        resource("SMold", "an earlier reply", created=rfc2822(SINCE - timedelta(hours=1))),
        resource("SMelse", "hi", to="+14155550199", created=rendered),
    )
    found, _ = await find(page, body=None)
    assert found is not None and found.sid == "SMtemplate"
    missed, _ = await find(page, body="the text we recorded for the template")
    assert missed is None  # matching a template by its recorded body would send it twice


async def test_find_message_raises_twilio_errors() -> None:
    with pytest.raises(TwilioError) as caught:
        await find(lambda _: httpx.Response(401, json={"code": 20003, "message": "Authenticate"}))
    assert (caught.value.http_status, caught.value.code) == (401, 20003)


def test_utc_from_timestamp() -> None:
    assert utc_from_timestamp(CREATED_AT.timestamp()) == CREATED_AT
    assert utc_from_timestamp(0).tzinfo is UTC
