"""The gateway without Temporal: Twilio hears 503 (and retries), health says so."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.app import create_app
from switchboard.devtools.twilio_sim import TwilioWebhookClient, inbound_message_form
from switchboard.runtime.config import Settings
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, unique_customer
from tests.support.server import free_port, serve


async def test_webhook_is_refused_with_503_when_temporal_is_unreachable(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        _env_file=None,
        temporal_address=f"127.0.0.1:{free_port()}",  # nothing listens there
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=f"http://127.0.0.1:{port}",
        memory_database_url=f"sqlite:///{tmp_path / 'memory.db'}",
    )
    async with serve(create_app(settings), port=port) as url, httpx.AsyncClient(timeout=30) as http:
        health = await http.get(f"{url}/healthz")
        assert health.status_code == 503
        form = inbound_message_form(unique_customer(), BUSINESS_NUMBER, "hello?",
                                    account_sid=ACCOUNT_SID)  # fmt: skip
        response = await TwilioWebhookClient(http, url, AUTH_TOKEN).post("/twilio/messaging", form)
        assert response.status_code == 503
