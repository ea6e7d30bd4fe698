"""Empty secrets fail closed: an empty value is unset, never an empty key.

``GATEWAY_API_KEY=`` used to make ``Authorization: Bearer `` (an empty token) a valid
operator login, and ``TWILIO_ACCOUNT_SID=`` with ``TWILIO_AUTH_TOKEN=`` left sandbox mode
with an empty HMAC key, so anyone could sign webhooks. Compose's ``${VAR}`` pass-through
produces exactly these values. Attacks go over real HTTP to a running gateway.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import TwilioWebhookClient, inbound_message_form
from tests.conftest import ACCOUNT_SID, BUSINESS_NUMBER, running_stack, unique_customer

SEARCH = "/api/knowledge/search?q=returns"


async def test_an_empty_operator_key_is_no_key(
    tmp_path: Path,
    temporal_server: DevServer,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_API_KEY", "")  # as `GATEWAY_API_KEY: ${GATEWAY_API_KEY}` gives
    async with (
        running_stack(tmp_path, temporal_server, client, worker=False, gateway_api_key="") as s,
        httpx.AsyncClient(timeout=10) as http,
    ):
        # "Bearer " arrives as "Bearer" (HTTP trims the value): an empty token.
        for header in ("Bearer", "bearer", ""):
            answer = await http.get(f"{s.gateway_url}{SEARCH}", headers={"Authorization": header})
            assert answer.status_code in (401, 403), (header, answer.status_code)
        assert s.settings.gateway_api_key is None


async def test_empty_twilio_credentials_do_not_sign_with_an_empty_key(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(
        tmp_path, temporal_server, client, twilio_account_sid="", twilio_auth_token=""
    ) as s:
        customer = unique_customer()
        form = inbound_message_form(customer, BUSINESS_NUMBER, "hi", account_sid=ACCOUNT_SID)
        anyone = TwilioWebhookClient(s.http, s.gateway_url, "")  # HMAC keyed with ""
        assert (await anyone.post("/twilio/messaging", form)).status_code == 403
        await asyncio.sleep(0.5)
        assert s.llm.requests == []
        assert s.settings.sandbox  # empty credentials are no credentials
