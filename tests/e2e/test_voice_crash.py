"""A gateway that dies mid-call: the workflow notices through the leg watcher's heartbeat
and texts the caller instead of leaving the conversation hanging."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from temporalio.client import Client

from benchmarks.harness import wait_healthy
from switchboard.devserver import DevServer
from switchboard.twilio_sim import RelayCall, TwilioWebhookClient
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, running_stack, unique_customer
from tests.e2e.test_crashes import ROOT, worker_env
from tests.fakes.fake_llm import FakeReply
from tests.fakes.server import free_port
from workflows.voice_legs import LEG_HEARTBEAT_TIMEOUT


def start_gateway(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway"], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


async def test_gateway_killed_mid_call_leads_to_an_sms_follow_up(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with running_stack(tmp_path, temporal_server, client) as stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = worker_env(stack.settings)
        env.update(GATEWAY_PORT=str(port), PUBLIC_BASE_URL=url)
        gateway = start_gateway(env, tmp_path / "gateway.log")
        try:
            await wait_healthy(url)
            stack.llm.responder = lambda messages: FakeReply(text="Let me check that order.")
            async with httpx.AsyncClient() as http:
                webhooks = TwilioWebhookClient(http, url, AUTH_TOKEN)
                customer = unique_customer()
                call = await RelayCall.dial(
                    webhooks, customer, BUSINESS_NUMBER, account_sid=ACCOUNT_SID
                )
                await call.say("Where is my order?")
                assert await call.reply() == "Let me check that order."
                killed_at = time.monotonic()
                gateway.send_signal(signal.SIGKILL)
                gateway.wait()
                sent = await stack.twilio.wait_for_messages(1, timeout=30)
                noticed = time.monotonic() - killed_at
        finally:
            if gateway.poll() is None:
                gateway.kill()
                gateway.wait()
        assert sent[0]["to"] == customer
        assert sent[0]["from"] == BUSINESS_NUMBER
        assert "cut off" in sent[0]["body"]
        assert noticed < LEG_HEARTBEAT_TIMEOUT.total_seconds() + 10
        view = await stack.describe(customer)
        assert any("ended: lost" in e.text for e in view.transcript)
