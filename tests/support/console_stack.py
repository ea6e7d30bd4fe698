"""A sandbox stack for the web console's tests: gateway + worker, demo responder, operator key.

Sandbox mode (no Twilio credentials): the worker "sends" replies to the gateway's own
``/sandbox/twilio`` outbox, so the playground may text and call. No model is configured,
so the demo responder answers (and hands off when asked for a human). ``/api`` and
``/console`` need ``OPERATOR_KEY`` as a bearer token: ``ConsoleStack.http`` sends it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from temporalio.client import Client

from gateway.app import create_app
from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from switchboard.runtime.config import Settings
from tests.support.server import free_port, serve
from tests.support.waiting import eventually
from worker import build_worker

OPERATOR_KEY = "console-operator-key"
"""The console stack's ``GATEWAY_API_KEY``."""

_T = TypeVar("_T")


@dataclass
class ConsoleStack:
    """A running sandbox gateway + worker against the session's Temporal."""

    settings: Settings
    client: Client
    gateway_url: str
    http: httpx.AsyncClient
    key: str = OPERATOR_KEY

    def api(self, path: str) -> str:
        """The gateway's URL of ``path``."""
        return f"{self.gateway_url}{path}"

    @property
    def ws_url(self) -> str:
        """The gateway's base URL for WebSockets."""
        return self.gateway_url.replace("http://", "ws://", 1)

    async def text(self, customer: str, text: str, channel: str = "sms") -> dict[str, Any]:
        """The customer texts through the playground (the signed webhook); its JSON answer."""
        answer = await self.http.post(
            self.api("/api/console/playground/messages"),
            json={"customer": customer, "channel": channel, "text": text},
        )
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    async def view(self, customer: str) -> dict[str, Any]:
        """``GET /api/conversations/{id}``."""
        answer = await self.http.get(self.api(f"/api/conversations/{conversation_id(customer)}"))
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    async def eventually(self, check: Callable[[], Awaitable[_T]], timeout: float = 15.0) -> _T:
        """Retry ``check`` until it returns something truthy without raising."""
        return await eventually(check, timeout, interval=0.1)

    async def reply_containing(self, customer: str, text: str, role: str = "assistant") -> str:
        """Waits for a transcript line of ``role`` containing ``text``; returns that line."""

        async def check() -> str:
            view = await self.view(customer)
            for entry in view["transcript"]:
                if entry["role"] == role and text in entry["text"]:
                    return str(entry["text"])
            return ""

        return await self.eventually(check)


def console_settings(tmp_path: Path, temporal: DevServer, port: int, **overrides: Any) -> Settings:
    """Sandbox settings: no Twilio credentials, no model, an operator key, this port."""
    values: dict[str, Any] = {
        "temporal_address": temporal.address,
        "temporal_task_queue": f"console-{free_port()}-{tmp_path.name[-8:]}",
        "memory_database_url": f"sqlite:///{tmp_path / 'memory.db'}",
        "message_batch_window": "0s",
        "gateway_api_key": OPERATOR_KEY,
        "public_base_url": f"http://127.0.0.1:{port}",
        "gateway_port": port,
        "log_format": "console",
    }
    values.update(overrides)
    settings = Settings(_env_file=None, **values)
    assert settings.sandbox and not settings.llm_configured, "the console stack is a sandbox"
    return settings


@contextlib.asynccontextmanager
async def running_console_stack(
    tmp_path: Path, temporal: DevServer, client: Client, **overrides: Any
) -> AsyncIterator[ConsoleStack]:
    """A sandbox gateway (on its own port) and a worker, until the block exits."""
    port = free_port()
    settings = console_settings(tmp_path, temporal, port, **overrides)
    async with (
        serve(create_app(settings, client), port=port) as gateway_url,
        httpx.AsyncClient(timeout=15, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as http,
        build_worker(client, settings) as running,
        running,
    ):
        yield ConsoleStack(settings=settings, client=client, gateway_url=gateway_url, http=http)


async def sse_events(
    response: httpx.Response,
) -> AsyncIterator[tuple[str, Any]]:
    """The ``(event, data)`` pairs of a ``text/event-stream`` response (comments skipped)."""
    event, data = "message", ""
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, json.loads(data)
            event, data = "message", ""
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data += line.removeprefix("data:").strip()
