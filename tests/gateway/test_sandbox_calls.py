"""Sandbox mode: outbound calls land in the gateway's sandbox outbox, exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import ActivityEnvironment

from activities.calls import CallActivities
from gateway import sandbox
from switchboard.contract.outbound import PlaceCallRequest
from switchboard.runtime.config import SANDBOX_ACCOUNT_SID, Settings
from switchboard.runtime.outbox import SqliteOutbox
from switchboard.twilio.rest import TwilioRestClient
from tests.support.server import free_port, serve

CUSTOMER = "+14155550177"
BUSINESS = "+15005550006"
CALLS = f"/sandbox/twilio/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Calls.json"


def sandbox_settings(tmp_path: Path, port: int) -> Settings:
    values: dict[str, Any] = {
        "public_base_url": f"http://127.0.0.1:{port}",
        "memory_database_url": f"sqlite:///{tmp_path / 'memory.db'}",
        "log_format": "console",
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[Settings, sandbox.SandboxOutbox, str]]:
    """Only the sandbox routes of the gateway, served on the settings' public port."""
    port = free_port()
    settings = sandbox_settings(tmp_path, port)
    outbox = sandbox.SandboxOutbox(tmp_path / "sandbox-outbox.jsonl")
    app = FastAPI()
    app.state.settings = settings
    app.state.sandbox_outbox = outbox
    app.include_router(sandbox.router)
    async with serve(app, port=port) as url:
        yield settings, outbox, url


async def test_sandbox_calls_endpoint(
    gateway: tuple[Settings, sandbox.SandboxOutbox, str], tmp_path: Path
) -> None:
    _, outbox, url = gateway
    async with httpx.AsyncClient(base_url=url) as http:
        created = await http.post(
            CALLS, data={"To": CUSTOMER, "From": BUSINESS, "Twiml": "<Response/>"}
        )
        assert created.status_code == 201
        call = created.json()
        assert call["sid"].startswith("CA") and call["status"] == "queued"
        assert (call["to"], call["from"], call["direction"]) == (CUSTOMER, BUSINESS, "outbound-api")
        assert outbox.calls == [call]
        listed = await http.get(CALLS, params={"To": CUSTOMER})
        assert listed.json()["calls"] == [call]
        assert (await http.get(CALLS, params={"To": "+1999"})).json()["calls"] == []

        for form, code in [
            ({"From": BUSINESS, "Twiml": "<Response/>"}, 21201),
            ({"To": CUSTOMER, "Twiml": "<Response/>"}, 21213),
            ({"To": CUSTOMER, "From": BUSINESS}, 21205),
        ]:
            refused = await http.post(CALLS, data=form)
            assert (refused.status_code, refused.json()["code"]) == (400, code)
        other_account = CALLS.replace(SANDBOX_ACCOUNT_SID, "AC" + "9" * 32)
        assert (await http.post(other_account, data={"To": CUSTOMER})).status_code == 404
    assert '"twiml": "<Response/>"' in (tmp_path / "sandbox-outbox.jsonl").read_text()


async def test_place_call_in_sandbox_mode(
    gateway: tuple[Settings, sandbox.SandboxOutbox, str], tmp_path: Path
) -> None:
    settings, outbox, _ = gateway
    assert settings.sandbox
    send_outbox = SqliteOutbox(tmp_path / "outbox.db")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            rest = TwilioRestClient(
                http, settings.twilio_rest_base_url, settings.account_sid, settings.auth_token
            )
            activities = CallActivities(settings, rest, send_outbox)
            request = PlaceCallRequest(
                idempotency_key="k-1", conversation_id=f"conv-{CUSTOMER}", to=CUSTOMER,
                from_=BUSINESS, purpose="say hello",
            )  # fmt: skip
            env = ActivityEnvironment()
            placed = await env.run(activities.place_call, request)
            again = await env.run(activities.place_call, request)
    finally:
        send_outbox.close()
    assert [c["sid"] for c in outbox.calls] == [placed.sid]
    assert again.sid == placed.sid and again.deduplicated
