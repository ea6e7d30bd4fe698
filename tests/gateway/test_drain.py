"""SIGTERM drains a running gateway: no new calls, the live ones finish, then it exits.

``python -m gateway`` runs as a child process (``tests.security.test_body_limits.gateway``),
with no Temporal behind it: ``/healthz`` already answers 503 ("degraded") for that, so the
checks below tell draining from it by the body. A relay socket that has not sent its
``setup`` stands for a live call (its slot is held from the upgrade on); it closes itself
after ``SETUP_DEADLINE`` (10 s), so each test finishes well within that.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.routes.voice import LINES_BUSY
from tests.security.test_body_limits import AUTH_TOKEN, Gateway, gateway, open_relay

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")


async def healthz(gw: Gateway) -> tuple[int, str]:
    """``/healthz``'s status code and its ``status`` field."""
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(f"{gw.url}/healthz")
    return answer.status_code, answer.json()["status"]


async def until_draining(gw: Gateway) -> None:
    """Wait until the gateway says it is draining (the signal is handled between ticks)."""
    for _ in range(50):
        if await healthz(gw) == (503, "draining"):
            return
        await asyncio.sleep(0.1)
    pytest.fail("the gateway never said it was draining")


async def incoming_call(gw: Gateway) -> httpx.Response:
    """A signed ``/twilio/voice`` webhook for a new call."""
    url = f"{gw.url}/twilio/voice"
    form = {"CallSid": "CA" + "1" * 32, "From": "+14155550100", "To": "+14155550199"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.post(url, data=form, headers={"X-Twilio-Signature": signature})


async def test_sigterm_refuses_new_calls_and_exits_once_the_live_one_ends(tmp_path: Path) -> None:
    async with gateway(tmp_path, GATEWAY_DRAIN_SECONDS="60") as gw:
        assert (await healthz(gw))[1] == "degraded"  # no Temporal here; not draining yet
        live = await open_relay(gw)
        gw.process.send_signal(signal.SIGTERM)
        await until_draining(gw)

        with pytest.raises(InvalidStatus) as refused:
            await open_relay(gw)
        assert refused.value.response.status_code == 503
        busy = await incoming_call(gw)
        assert busy.status_code == 200
        assert LINES_BUSY in busy.text and "<Hangup" in busy.text

        # The live call is untouched, and the process waits for it.
        await asyncio.wait_for(await live.ping(), timeout=5)
        await asyncio.sleep(0.5)
        assert gw.process.returncode is None

        await live.close()
        status = await asyncio.wait_for(gw.process.wait(), timeout=10)
        assert status == 0, (tmp_path / "gateway.log").read_text()[-2000:]
    log = (tmp_path / "gateway.log").read_text()
    assert "gateway_draining" in log and "gateway_drained" in log


async def test_a_drain_ends_at_its_bound_with_calls_still_up(tmp_path: Path) -> None:
    async with gateway(tmp_path, GATEWAY_DRAIN_SECONDS="1") as gw:
        live = await open_relay(gw)
        gw.process.send_signal(signal.SIGTERM)
        await until_draining(gw)
        status = await asyncio.wait_for(gw.process.wait(), timeout=8)
        assert status == 0
        # The server's own shutdown closed what was left (1012: service restart).
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(live.recv(), timeout=5)


async def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    async with gateway(tmp_path, GATEWAY_DRAIN_SECONDS="60") as gw:
        live = await open_relay(gw)
        gw.process.send_signal(signal.SIGTERM)
        await until_draining(gw)
        gw.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(gw.process.wait(), timeout=8)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(live.recv(), timeout=5)
