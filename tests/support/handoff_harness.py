"""The handoff and call activities wired to fake Twilio, TaskRouter, webhook and LLM servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
from temporalio.testing import ActivityEnvironment

from activities.calls import CallActivities
from activities.handoff import HandoffActivities
from switchboard.contract.addresses import Channel
from switchboard.contract.handoff import HandoffPackage, PackageLine
from switchboard.memory import MemoryStore, open_store
from switchboard.runtime.config import Settings
from switchboard.runtime.outbox import SqliteOutbox
from switchboard.twilio.rest import TwilioRestClient
from tests.support.fake_llm import FakeLLM
from tests.support.fake_twilio import FakeTwilio
from tests.support.fake_webhook import WEBHOOK_PATH, FakeWebhook
from tests.support.server import serve

SID = "AC" + "2" * 32
TOKEN = "handoff-auth-token"
API_KEY = "gateway-api-key"
WEBHOOK_SECRET = "handoff-webhook-secret"
LLM_KEY = "sk-handoff"
WORKSPACE = "WS" + "1" * 32
WORKFLOW = "WW" + "2" * 32
CUSTOMER = "+14155550123"
BUSINESS = "+15005550006"
PUBLIC = "https://switchboard.example"
AT = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)

_R = TypeVar("_R")


def transcript(channel: Channel = Channel.SMS) -> list[PackageLine]:
    """A short conversation ending with a request for a human."""
    return [
        PackageLine(role="customer", text="My order A-17 never arrived", channel=channel, at=AT),
        PackageLine(role="assistant", text="Sorry! Let me check.", channel=channel, at=AT),
        PackageLine(role="customer", text="I want to talk to a person", channel=channel, at=AT),
    ]


def package(channel: Channel = Channel.SMS, **overrides: Any) -> HandoffPackage:
    """A handoff package as ``prepare_handoff`` would build it."""
    values: dict[str, Any] = {
        "conversation_id": f"conv-{CUSTOMER}",
        "customer": CUSTOMER,
        "channel": channel,
        "reason": "customer asked for a person",
        "summary": "Order A-17 missing; wants a person.",
        "profile": {"customer": CUSTOMER, "traits": {"name": "Ada"}},
        "transcript": transcript(channel),
    }
    values.update(overrides)
    return HandoffPackage(**values)


@dataclass
class Harness:
    """Fakes served on real sockets, a store and an outbox; builds activities per test."""

    twilio: FakeTwilio
    webhook: FakeWebhook
    llm: FakeLLM
    twilio_url: str
    webhook_url: str
    llm_url: str
    store: MemoryStore
    outbox: SqliteOutbox
    http: httpx.AsyncClient
    tmp_path: Path
    env: ActivityEnvironment

    def settings(
        self, *, taskrouter: bool = True, webhook: bool = True, **overrides: Any
    ) -> Settings:
        values: dict[str, Any] = {
            "twilio_account_sid": SID,
            "twilio_auth_token": TOKEN,
            "twilio_api_base_url": self.twilio_url,
            "twilio_taskrouter_base_url": self.twilio_url,
            "public_base_url": PUBLIC,
            "gateway_api_key": API_KEY,
            "memory_database_url": f"sqlite:///{self.tmp_path / 'memory.db'}",
            "handoff_timeout": "5m",
            "log_format": "console",
        }
        if taskrouter:
            values["twilio_taskrouter_workspace_sid"] = WORKSPACE
            values["twilio_taskrouter_workflow_sid"] = WORKFLOW
        if webhook:
            values["handoff_webhook_url"] = self.webhook_url
            values["handoff_webhook_secret"] = WEBHOOK_SECRET
        values.update(overrides)
        return Settings(_env_file=None, **values)

    def activities(
        self, *, model: bool = False, taskrouter: bool = True, webhook: bool = True,
        **overrides: Any,
    ) -> HandoffActivities:  # fmt: skip
        """Activities over the fakes; ``model`` gives them the fake LLM for summaries."""
        if model:
            overrides = {"llm_base_url": f"{self.llm_url}/v1", "llm_api_key": LLM_KEY,
                         "llm_model": "summary-model", **overrides}  # fmt: skip
        settings = self.settings(taskrouter=taskrouter, webhook=webhook, **overrides)
        client = (
            openai.AsyncOpenAI(base_url=f"{self.llm_url}/v1", api_key=LLM_KEY, max_retries=0)
            if model
            else None
        )
        return HandoffActivities(settings, self.http, self.store, client, self.outbox)

    def calls(self, **overrides: Any) -> CallActivities:
        """Call activities over fake Twilio, sharing the harness's outbox and HTTP client."""
        settings = self.settings(**overrides)
        rest = TwilioRestClient(
            self.http, settings.twilio_rest_base_url, settings.account_sid, settings.auth_token
        )
        return CallActivities(settings, rest, self.outbox)

    async def run(self, fn: Callable[..., Awaitable[_R]], arg: Any) -> _R:
        """Run one activity attempt in an activity context."""
        result: _R = await self.env.run(fn, arg)
        return result


@dataclass
class Fakes:
    """The fake servers, served once and shared by the tests of a module."""

    twilio: FakeTwilio
    webhook: FakeWebhook
    llm: FakeLLM
    twilio_url: str
    webhook_url: str
    llm_url: str

    def reset(self) -> None:
        """Forget what earlier tests recorded and injected."""
        self.twilio.reset()
        self.webhook.reset()
        self.llm.reset()


@contextlib.asynccontextmanager
async def served_fakes() -> AsyncIterator[Fakes]:
    """Serve fake Twilio (with TaskRouter), the webhook receiver and the LLM."""
    twilio, webhook, llm = FakeTwilio(SID, TOKEN), FakeWebhook(WEBHOOK_SECRET), FakeLLM(LLM_KEY)
    async with (
        serve(twilio.app) as twilio_url,
        serve(webhook.app) as webhook_base,
        serve(llm.app) as llm_url,
    ):
        yield Fakes(twilio, webhook, llm, twilio_url, webhook_base + WEBHOOK_PATH, llm_url)


@contextlib.asynccontextmanager
async def harness(fakes: Fakes, tmp_path: Path) -> AsyncIterator[Harness]:
    """Reset the fakes and open a fresh store and outbox under ``tmp_path``."""
    fakes.reset()
    store = open_store(f"sqlite:///{tmp_path / 'memory.db'}")
    await store.migrate()
    outbox = SqliteOutbox(tmp_path / "outbox.db")
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield Harness(
                twilio=fakes.twilio, webhook=fakes.webhook, llm=fakes.llm,
                twilio_url=fakes.twilio_url, webhook_url=fakes.webhook_url,
                llm_url=fakes.llm_url, store=store, outbox=outbox, http=http,
                tmp_path=tmp_path, env=ActivityEnvironment(),
            )  # fmt: skip
    finally:
        outbox.close()
        await store.close()
