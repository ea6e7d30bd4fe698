"""The gateway application: Twilio webhooks in, Temporal signals and queries out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from fastapi import FastAPI
from temporalio.client import Client

from gateway import dashboard, sandbox
from gateway.codec_cors import CodecCors
from gateway.console import api as console_api
from gateway.console import pages as console_pages
from gateway.console import playground as console_playground
from gateway.conversations import ConversationGateway
from gateway.dedupe import RecentKeys
from gateway.limits import BodyLimits
from gateway.metrics import GatewayMetrics
from gateway.routes import (
    codec,
    conversations,
    intelligence,
    memory,
    messaging,
    reanalysis,
    system,
    taskrouter,
    voice,
)
from gateway.signature import SignatureValidator
from gateway.voice.calls import LiveCalls, RelaySlots
from gateway.voice.legs import gateway_task_queue, running_leg_worker
from gateway.voice.llm_stream import ReplyStreamer
from gateway.voice.turn_knowledge import KnowledgeLookup
from switchboard.agent import load_agent
from switchboard.agent.mcp_runtime import mcp_connections
from switchboard.contract import search_attributes
from switchboard.memory.setup import open_memory
from switchboard.runtime.config import Settings
from switchboard.runtime.temporal import connect, ensure_search_attributes, payload_codec
from switchboard.runtime.tracing import instrument_app

log = structlog.get_logger(__name__)


def create_app(settings: Settings, client: Client | None = None) -> FastAPI:
    """Build the app. Without ``client`` it connects to Temporal (lazily) at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        temporal = client or await connect(settings, lazy=True)
        await _register_search_attributes(temporal, settings)
        app.state.settings = settings
        # The Temporal UI's codec endpoint decodes with the client's own codec and keys.
        app.state.payload_codec = payload_codec(temporal)
        app.state.agent = agent = load_agent(settings)
        app.state.conversations = ConversationGateway(temporal, settings, agent)
        app.state.metrics = GatewayMetrics()
        app.state.recent = RecentKeys()
        app.state.validator = SignatureValidator(
            settings.auth_token,
            settings.public_base_url,
            enabled=settings.twilio_validate_signatures,
        )
        if settings.sandbox:
            app.state.sandbox_outbox = sandbox.SandboxOutbox(_sandbox_file(settings))
        if not settings.twilio_validate_signatures:
            log.warning(
                "signature_validation_disabled",
                hint="TWILIO_VALIDATE_SIGNATURES=false: anyone can post webhooks",
            )
        if settings.gateway_api_key is None and not settings.sandbox:
            log.warning("operator_api_closed", hint="set GATEWAY_API_KEY to use /api")
        app.state.store = store = await open_memory(settings)
        app.state.calls = LiveCalls()
        app.state.relay_slots = RelaySlots(settings.gateway_max_calls)
        app.state.streamer = ReplyStreamer(settings, agent=agent)
        app.state.knowledge = KnowledgeLookup(store)
        app.state.gateway_queue = gateway_task_queue(settings)
        log.info(
            "gateway_started", gateway_queue=app.state.gateway_queue, **settings.safe_summary()
        )
        async with (
            running_leg_worker(client, settings, app.state.gateway_queue, app.state.calls),
            # The schemas of MCP servers' tools, for the calls this gateway streams.
            mcp_connections(agent),
        ):
            yield
        await app.state.streamer.close()
        await store.close()

    app = FastAPI(title="Switchboard gateway", lifespan=lifespan)
    # Bodies are capped and typed before any route (or its auth) reads them: gateway.limits
    app.add_middleware(BodyLimits)
    # Outside the body limits, so a preflight is answered first and a 413 carries CORS too.
    app.add_middleware(CodecCors, origins=settings.ui_origins)
    app.include_router(messaging.router)
    app.include_router(voice.router)
    app.include_router(system.router)
    app.include_router(memory.router)
    app.include_router(conversations.router)
    app.include_router(intelligence.router)
    app.include_router(reanalysis.router)
    app.include_router(taskrouter.router)
    app.include_router(dashboard.router)
    app.include_router(console_api.router)
    app.include_router(console_playground.router)
    app.include_router(console_pages.router)
    app.include_router(codec.router)
    if settings.sandbox:
        app.include_router(sandbox.router)
    # A server span per request when tracing is on (switchboard.runtime.tracing).
    instrument_app(app)
    return app


async def _register_search_attributes(client: Client, settings: Settings) -> None:
    # The worker registers them too; doing it here as well means a webhook that arrives
    # before any worker has started can still start its conversation. Never fatal: the
    # gateway must come up (and say so on /healthz) while Temporal is down.
    try:
        await asyncio.wait_for(
            ensure_search_attributes(client, settings.temporal_namespace, search_attributes.ALL),
            timeout=5,
        )
    except Exception as exc:
        log.warning("search_attributes_check_skipped", error=str(exc))


def _sandbox_file(settings: Settings) -> Path | None:
    if settings.memory_database_url.startswith("sqlite:///"):
        return Path(settings.memory_database_url.removeprefix("sqlite:///")).parent / (
            "sandbox-outbox.jsonl"
        )
    return None
