"""Typed dependencies: what routes receive, built once in the app's lifespan.

They are ``async`` although they do not await: FastAPI runs plain ``def`` dependencies in a
thread pool, which measured as a tenth of the gateway's CPU per webhook.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from gateway.conversations import ConversationGateway
from gateway.dedupe import RecentKeys
from gateway.metrics import GatewayMetrics
from gateway.signature import SignatureValidator
from gateway.voice.calls import RelaySlots
from switchboard.agent import Agent
from switchboard.memory import MemoryStore
from switchboard.runtime.config import Settings
from switchboard.runtime.payload_codec import EncryptionCodec


def _state(request: Request, name: str) -> object:
    return getattr(request.app.state, name)


async def get_settings(request: Request) -> Settings:
    """The gateway's settings."""
    value = _state(request, "settings")
    assert isinstance(value, Settings)
    return value


async def get_conversations(request: Request) -> ConversationGateway:
    """The Temporal-facing conversation client."""
    value = _state(request, "conversations")
    assert isinstance(value, ConversationGateway)
    return value


async def get_metrics(request: Request) -> GatewayMetrics:
    """This process's metrics."""
    value = _state(request, "metrics")
    assert isinstance(value, GatewayMetrics)
    return value


async def get_recent(request: Request) -> RecentKeys:
    """Recently handled webhook keys."""
    value = _state(request, "recent")
    assert isinstance(value, RecentKeys)
    return value


async def get_validator(request: Request) -> SignatureValidator:
    """The Twilio signature validator."""
    value = _state(request, "validator")
    assert isinstance(value, SignatureValidator)
    return value


async def get_relay_slots(request: Request) -> RelaySlots:
    """How many ConversationRelay sockets this process holds, and may."""
    value = _state(request, "relay_slots")
    assert isinstance(value, RelaySlots)
    return value


async def get_agent(request: Request) -> Agent:
    """The business's agent (``AGENT``)."""
    value = _state(request, "agent")
    assert isinstance(value, Agent)
    return value


async def get_store(request: Request) -> MemoryStore:
    """The memory and knowledge store."""
    value = _state(request, "store")
    assert isinstance(value, MemoryStore)
    return value


async def get_payload_codec(request: Request) -> EncryptionCodec | None:
    """The encrypting payload codec of the gateway's client (None: encryption is off)."""
    value = getattr(request.app.state, "payload_codec", None)
    return value if isinstance(value, EncryptionCodec) else None


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "[::1]", "localhost"})


def keyless_refusal(request: Request, settings: Settings) -> str | None:
    """Why a keyless loopback request may not be the operator's own (None: it may be).

    Without a key, "from this machine" is the only credential, and a browser on this
    machine carries other sites' requests too: a page elsewhere can post a form to
    ``localhost`` (``Sec-Fetch-Site: cross-site``, a foreign ``Origin``), and a name of
    theirs that resolves to 127.0.0.1 (DNS rebinding) arrives with their ``Host``. A tunnel
    or proxy on this machine adds ``X-Forwarded-For``. Each of those needs the key. The
    one other page allowed is the Temporal UI's (``TEMPORAL_UI_ORIGINS``) on ``/codec``.
    """
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    ui_codec = request.url.path.startswith("/codec/") and origin in settings.ui_origins
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site not in (None, "same-origin", "none") and not ui_codec:
        return "another site's page"
    if origin is not None and origin.partition("://")[2] != host and not ui_codec:
        return "another site's page"
    name = host.rpartition(":")[0] if host.count(":") == 1 or "]:" in host else host
    if name not in _LOOPBACK_NAMES:
        return "a host name other than localhost"
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return "a proxy or tunnel"
    return None


async def operator_auth(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> None:
    """Guard ``/api``: ``Authorization: Bearer $GATEWAY_API_KEY``.

    Without a key ``/api`` answers loopback callers in sandbox mode only (``make run``),
    and of those only this machine's own requests (not another site's page in a browser,
    a rebound host name or a tunnel: ``keyless_refusal``);
    with Twilio credentials it is closed until a key is set, since anything that tunnels to
    localhost would otherwise reach it.

    Raises:
        HTTPException: 401 for a missing or wrong key; 403 without a key, for a remote
            caller or outside sandbox mode.
    """
    key = settings.gateway_api_key
    if key is None:
        if not settings.sandbox:
            raise HTTPException(
                status_code=403,
                detail="set GATEWAY_API_KEY to use /api (required with Twilio credentials)",
            )
        host = request.client.host if request.client else ""
        if host not in _LOOPBACK:
            raise HTTPException(
                status_code=403, detail="set GATEWAY_API_KEY to use /api from other hosts"
            )
        if (why := keyless_refusal(request, settings)) is not None:
            raise HTTPException(
                status_code=403, detail=f"set GATEWAY_API_KEY to use /api from {why}"
            )
        return
    secret = key.get_secret_value().encode()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if (
        not secret
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), secret)
    ):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[MemoryStore, Depends(get_store)]
AgentDep = Annotated[Agent, Depends(get_agent)]
ConversationsDep = Annotated[ConversationGateway, Depends(get_conversations)]
MetricsDep = Annotated[GatewayMetrics, Depends(get_metrics)]
RecentDep = Annotated[RecentKeys, Depends(get_recent)]
ValidatorDep = Annotated[SignatureValidator, Depends(get_validator)]
RelaySlotsDep = Annotated[RelaySlots, Depends(get_relay_slots)]
PayloadCodecDep = Annotated[EncryptionCodec | None, Depends(get_payload_codec)]


async def signed_form(request: Request, validator: ValidatorDep) -> dict[str, str]:
    """The request's form, once its ``X-Twilio-Signature`` checks out (403 otherwise).

    The signed URL is ``PUBLIC_BASE_URL`` plus the path and query received, and nothing
    else: a URL rebuilt from the request's own ``Host`` would let a request Twilio signed for
    another host of the same account be replayed here.
    """
    form = await request.form()
    signature = request.headers.get("x-twilio-signature")
    public = validator.public_url(request.url.path, request.url.query)
    if not validator.valid(public, form, signature):
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return {key: value for key, value in form.items() if isinstance(value, str)}


SignedForm = Annotated[dict[str, str], Depends(signed_form)]
