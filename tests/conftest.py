"""Shared fixtures: one Temporal dev server per session; fakes and the real gateway per test."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gateway.app import create_app
from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import ConversationView
from switchboard.devtools.devserver import DevServer
from switchboard.devtools.twilio_sim import RelayCall, TwilioWebhookClient, inbound_message_form
from switchboard.runtime.config import Settings
from tests.support.fake_llm import FakeLLM
from tests.support.fake_twilio import FakeTwilio
from tests.support.server import free_port, serve
from tests.support.waiting import eventually
from worker import build_worker
from workflows.conversation import ConversationWorkflow

pytest_plugins = ["tests.support.postgres"]  # memory_url: SQLite and PostgreSQL

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"
BUSINESS_NUMBER = "+15005550001"
LLM_KEY = "sk-test"
OPERATOR_KEY = "test-operator-key"
"""The stacks' ``GATEWAY_API_KEY``: with Twilio credentials ``/api`` needs one, even locally.
``Stack.http`` sends it; a test that sets its own key overrides the header per request."""

_T = TypeVar("_T")


def unique_customer() -> str:
    """A fresh valid US number, so tests sharing one Temporal server never collide."""
    return f"+1415{random.randint(2000000, 9999999)}"


@pytest.fixture(scope="session")
async def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    server = DevServer(
        port=free_port(),
        ui_port=None,
        db_file=tmp_path_factory.mktemp("temporal") / "temporal.db",
    )
    await server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def client(temporal_server: DevServer) -> Client:
    return await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)


@dataclass
class Stack:
    """A running gateway + worker against the session's Temporal, with fake Twilio and LLM."""

    settings: Settings
    client: Client
    twilio: FakeTwilio
    llm: FakeLLM
    gateway_url: str
    webhooks: TwilioWebhookClient
    http: httpx.AsyncClient

    async def text(
        self,
        customer: str,
        body: str,
        *,
        channel: Channel = Channel.SMS,
        sid: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The customer texts the business (a signed inbound webhook)."""
        form = inbound_message_form(
            customer, BUSINESS_NUMBER, body, channel=channel, message_sid=sid,
            account_sid=ACCOUNT_SID, extra=extra,
        )  # fmt: skip
        return await self.webhooks.post("/twilio/messaging", form)

    async def call(self, customer: str, *, call_sid: str | None = None) -> RelayCall:
        """The customer calls the business: the Voice webhook, then the signed relay socket."""
        return await RelayCall.dial(
            self.webhooks, customer, BUSINESS_NUMBER, account_sid=ACCOUNT_SID, call_sid=call_sid
        )

    async def hang_up(self, call: RelayCall, customer: str) -> None:
        """The caller hangs up; returns once the conversation has recorded the call's end."""
        await call.hang_up()
        await self.eventually(self.transcript_mentions(customer, f"call {call.call_sid} ended"))

    def transcript_mentions(self, customer: str, text: str) -> Callable[[], Awaitable[bool]]:
        """A check for ``eventually``: a line of the customer's transcript contains ``text``."""

        async def check() -> bool:
            view = await self.describe(customer)
            return any(text in entry.text for entry in view.transcript)

        return check

    async def describe(self, customer: str) -> ConversationView:
        handle = self.client.get_workflow_handle_for(
            ConversationWorkflow.run, conversation_id(customer)
        )
        return await handle.query(ConversationWorkflow.describe)

    async def eventually(self, check: Callable[[], Awaitable[_T]], timeout: float = 10.0) -> _T:
        """Retry ``check`` until it returns something truthy without raising."""
        return await eventually(check, timeout)


def stack_settings(tmp_path: Path, temporal: DevServer, **overrides: Any) -> Settings:
    """Settings for a test stack; each test gets its own task queue and outbox."""
    values: dict[str, Any] = {
        "temporal_address": temporal.address,
        "temporal_task_queue": f"conversations-{uuid.uuid4().hex[:8]}",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "memory_database_url": f"sqlite:///{tmp_path / 'memory.db'}",
        "message_batch_window": "0s",
        "llm_api_key": LLM_KEY,
        "llm_model": "test-model",
        "gateway_api_key": OPERATOR_KEY,
        "log_format": "console",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def running_stack(
    tmp_path: Path, temporal: DevServer, client: Client, *, worker: bool = True, **overrides: Any
) -> AsyncIterator[Stack]:
    twilio, llm = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN), FakeLLM(LLM_KEY)
    async with serve(twilio.app) as twilio_url, serve(llm.app) as llm_url:
        port = free_port()
        settings = stack_settings(
            tmp_path, temporal,
            **{
                "twilio_api_base_url": twilio_url,
                "twilio_taskrouter_base_url": twilio_url,
                "llm_base_url": f"{llm_url}/v1",
                "public_base_url": f"http://127.0.0.1:{port}",
                "gateway_port": port,
                **overrides,
            },
        )  # fmt: skip
        async with (
            serve(create_app(settings, client), port=port) as gateway_url,
            httpx.AsyncClient(
                timeout=10, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}
            ) as http,
            contextlib.AsyncExitStack() as stack,
        ):
            if worker:
                running = await stack.enter_async_context(build_worker(client, settings))
                await stack.enter_async_context(running)
            yield Stack(
                settings=settings, client=client, twilio=twilio, llm=llm,
                gateway_url=gateway_url,
                webhooks=TwilioWebhookClient(http, gateway_url, AUTH_TOKEN),
                http=http,
            )  # fmt: skip


@pytest.fixture
async def stack(tmp_path: Path, temporal_server: DevServer, client: Client) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, temporal_server, client) as running:
        yield running


@pytest.fixture
async def offline(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> AsyncIterator[Stack]:
    """A stack with no model: the demo responder answers, the built-in operators run offline."""
    async with running_stack(
        tmp_path, temporal_server, client, llm_base_url=None, twilio_phone_number=BUSINESS_NUMBER
    ) as stack:
        yield stack
