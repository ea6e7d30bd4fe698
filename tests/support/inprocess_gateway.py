"""The real gateway app in this process, on a Temporal client that records and answers "down".

No server and no Temporal: requests go through httpx's ASGI transport and a relay socket is
driven as ASGI messages. The app runs its own lifespan (its memory store on SQLite in a
temporary folder), so everything but Temporal is the real thing, and every operation the
gateway asks of Temporal is in ``recorder`` (see ``tests.support.temporal_recorder``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.datastructures import ImmutableMultiDict
from starlette.types import Message
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gateway.app import create_app
from gateway.signature import SignatureValidator
from switchboard.runtime.config import Settings
from switchboard.twilio.twiml import RELAY_PATH
from tests.support.server import free_port
from tests.support.temporal_recorder import TemporalRecorder

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "in-process-auth-token"
OPERATOR_KEY = "in-process-operator-key"
PUBLIC_BASE_URL = "https://gateway.example"
WORKFLOW_SID = "WW" + "0" * 32
AUTH = {"Authorization": f"Bearer {OPERATOR_KEY}"}


@dataclass
class InProcessGateway:
    """The app, its settings, what it asked of Temporal, and a client that calls it."""

    app: FastAPI
    settings: Settings
    recorder: TemporalRecorder
    http: httpx.AsyncClient
    validator: SignatureValidator

    def sign(self, path: str, form: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
        """Twilio's signature of a form posted to ``path`` (over ``PUBLIC_BASE_URL``).

        Every value of a repeated field is signed, as Twilio does and as the gateway checks.
        """
        return self.validator.sign(self.validator.public_url(path), ImmutableMultiDict(form))

    async def relay(
        self, frames: Sequence[str | bytes], *, signed: bool = True, close_code: int = 1000
    ) -> list[Message]:
        """Open a relay socket, send ``frames``, close it; returns what the app sent."""
        signature = self.validator.sign(self.validator.relay_url(RELAY_PATH), {})
        headers = [(b"host", b"gateway.example")]
        if signed:
            headers.append((b"x-twilio-signature", signature.encode()))
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "wss",
            "server": ("gateway.example", 443),
            "client": ("127.0.0.1", 40000),
            "root_path": "",
            "path": RELAY_PATH,
            "raw_path": RELAY_PATH.encode(),
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
            "extensions": {"websocket.http.response": {}},
        }
        incoming: list[Message] = [{"type": "websocket.connect"}]
        for frame in frames:
            key = "text" if isinstance(frame, str) else "bytes"
            incoming.append({"type": "websocket.receive", key: frame})
        incoming.append({"type": "websocket.disconnect", "code": close_code})
        sent: list[Message] = []

        async def receive() -> Message:
            return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1006}

        async def send(message: Message) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return sent


def in_process_settings(folder: Path, **overrides: Any) -> Settings:
    """Settings with Twilio credentials, an operator key and a Temporal nobody listens on."""
    values: dict[str, Any] = {
        "temporal_address": f"127.0.0.1:{free_port()}",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "public_base_url": PUBLIC_BASE_URL,
        "gateway_api_key": OPERATOR_KEY,
        "twilio_taskrouter_workflow_sid": WORKFLOW_SID,
        "memory_database_url": f"sqlite:///{folder / 'memory.db'}",
        "log_format": "console",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def in_process_gateway(folder: Path, **overrides: Any) -> AsyncIterator[InProcessGateway]:
    """The gateway with its lifespan running, until the block exits."""
    settings = in_process_settings(folder, **overrides)
    recorder = TemporalRecorder()
    client = await Client.connect(
        settings.temporal_address,
        lazy=True,
        interceptors=[recorder],
        data_converter=pydantic_data_converter,
    )
    recorder.client = client
    app = create_app(settings, client)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=PUBLIC_BASE_URL, timeout=30) as http,
    ):
        recorder.clear()  # what the lifespan itself asked (search attributes) is not a request's
        yield InProcessGateway(
            app=app,
            settings=settings,
            recorder=recorder,
            http=http,
            validator=SignatureValidator(AUTH_TOKEN, PUBLIC_BASE_URL),
        )
