"""The Temporal UI's remote codec: ``POST /codec/encode`` and ``POST /codec/decode``.

Temporal's remote codec protocol: a JSON body ``{"payloads": [{"metadata": {name: base64},
"data": base64}]}`` answered in the same shape, the namespace in ``X-Namespace``. Pointed at
``/codec`` (``temporal server start-dev --ui-codec-endpoint``, or the UI's settings), the UI
shows an operator the decrypted payloads of a history. Operator authentication guards both
(the UI sends the operator's bearer token when told to); CORS for the UI's origins is
``gateway.codec_cors``; the body is capped by ``gateway.limits``.

A payload whose data key was destroyed (its customer was forgotten) decodes to a JSON
placeholder, ``{"forgotten": …}``, rather than failing the whole batch: the rest of the
history stays readable and the UI says why that payload is not. A payload that does not
authenticate is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from gateway.dependencies import PayloadCodecDep, SettingsDep, operator_auth
from switchboard.runtime.data_keys import DataKeyGone
from switchboard.runtime.payload_codec import EncryptionCodec
from switchboard.runtime.payload_keys import DecryptionError

router = APIRouter(prefix="/codec", dependencies=[Depends(operator_auth)], tags=["codec"])

MAX_PAYLOADS = 1000
"""Payloads in one request at most (the UI sends those of one event or one page)."""
FORGOTTEN = json.dumps(
    {"forgotten": "this customer was forgotten: the key of this payload was destroyed"}
).encode()


class WirePayload(BaseModel):
    """One payload as the protocol sends it: metadata values and data in base64."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class CodecBody(BaseModel):
    """A request or answer of the remote codec protocol."""

    payloads: list[WirePayload] = Field(max_length=MAX_PAYLOADS)


async def _codec(codec: PayloadCodecDep) -> EncryptionCodec:
    if codec is None:
        raise HTTPException(status_code=404, detail="payload encryption is off")
    return codec


CodecDep = Annotated[EncryptionCodec, Depends(_codec)]


def _namespace(settings: SettingsDep, x_namespace: Annotated[str | None, Header()] = None) -> None:
    # The keys are the deployment's, whatever the namespace; one that is not ours is a
    # misconfigured UI, better told than answered with another namespace's view.
    if x_namespace and x_namespace != settings.temporal_namespace:
        raise HTTPException(
            status_code=400, detail=f"this codec serves namespace {settings.temporal_namespace!r}"
        )


@router.post("/encode", dependencies=[Depends(_namespace)])
async def encode(body: CodecBody, codec: CodecDep) -> CodecBody:
    """Encrypt payloads (the UI encodes what an operator sends, such as a signal's input).

    They name no workflow here, so the shared data key seals them.
    """
    return _wire(await codec.encode(_payloads(body)))


@router.post("/decode", dependencies=[Depends(_namespace)])
async def decode(body: CodecBody, codec: CodecDep) -> CodecBody:
    """Decrypt payloads; unencrypted ones come back as they are."""
    decoded: list[Payload] = []
    for payload in _payloads(body):
        try:
            decoded.append(await codec.decode_one(payload))
        except DataKeyGone:
            decoded.append(Payload(metadata={"encoding": b"json/plain"}, data=FORGOTTEN))
        except (DecryptionError, ValueError) as exc:
            raise HTTPException(status_code=400, detail="a payload did not decrypt") from exc
    return _wire(decoded)


def _payloads(body: CodecBody) -> list[Payload]:
    try:
        return [
            Payload(
                metadata={k: base64.b64decode(v, validate=True) for k, v in p.metadata.items()},
                data=base64.b64decode(p.data, validate=True),
            )
            for p in body.payloads
        ]
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(status_code=400, detail="payload fields must be base64") from exc


def _wire(payloads: list[Payload]) -> CodecBody:
    return CodecBody(
        payloads=[
            WirePayload(
                metadata={k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                data=base64.b64encode(p.data).decode(),
            )
            for p in payloads
        ]
    )
