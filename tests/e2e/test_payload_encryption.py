"""Payload encryption end to end: what Temporal stores is sealed, and only operators read it.

The worker and the gateway run with ``PAYLOAD_ENCRYPTION_KEYS``; a customer texts and the
conversation closes. The history, read with the plain ``temporal`` CLI (no codec), holds
neither the customer's words nor their number inside any payload; the gateway's codec
endpoint decodes it for an operator, refuses anyone else, answers the UI's CORS preflight;
and once the customer is forgotten, their payloads cannot be decoded any more.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard.contract.addresses import conversation_id
from switchboard.devtools.devserver import DevServer
from switchboard.runtime.data_keys import DataKeyGone
from switchboard.runtime.payload_codec import ENCODING
from switchboard.runtime.payload_keys import new_key_setting
from switchboard.runtime.temporal import connect, payload_codec
from tests.conftest import running_stack, stack_settings, unique_customer

UI_ORIGIN = "http://localhost:8233"
# Search attributes are indexed by the server, so they stay readable by design (the README
# says which); headers carry no customer data here.
UNENCRYPTED_BY_DESIGN = frozenset({"searchAttributes", "header"})
SDK_MARKER_BOOKKEEPING = frozenset({"data", "patch-data"})
"""A marker's own details (a local activity's sequence number and type, a patch id): written
by the SDK's core, not through the codec; the local activity's result beside them is sealed."""


async def cli_history(server: DevServer, workflow_id: str) -> dict[str, Any]:
    """The history as the plain CLI shows it (no codec), as JSON."""
    process = await asyncio.create_subprocess_exec(
        server.command()[0], "workflow", "show", "-w", workflow_id,
        "--address", server.address, "-o", "json",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 0
    history: dict[str, Any] = json.loads(out)
    return history


def payloads(node: Any, *, in_marker: bool = False) -> Iterator[tuple[bool, dict[str, Any]]]:
    """Every payload in a history's JSON but search attributes and headers, each with
    whether it must be sealed (everything but markers' own bookkeeping)."""
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and "data" in node:
            yield not in_marker, node
            return
        for key, value in node.items():
            if key in UNENCRYPTED_BY_DESIGN:
                continue
            if key == "markerRecordedEventAttributes":
                details = value.get("details", {})
                for name, inner in details.items():
                    yield from payloads(inner, in_marker=name in SDK_MARKER_BOOKKEEPING)
                continue
            yield from payloads(value, in_marker=in_marker)
    elif isinstance(node, list):
        for item in node:
            yield from payloads(item, in_marker=in_marker)


def raw(payload: dict[str, Any]) -> bytes:
    data = payload["data"]
    return base64.b64decode(data) if isinstance(data, str) else json.dumps(data).encode()


async def test_histories_are_sealed_and_only_an_operator_reads_them(
    tmp_path: Path, temporal_server: DevServer
) -> None:
    keys = new_key_setting("k1")
    encrypted = await connect(
        stack_settings(tmp_path, temporal_server, payload_encryption_keys=keys)
    )
    codec = payload_codec(encrypted)
    assert codec is not None
    customer = unique_customer()
    secret = f"my order number is ZQ{random.randint(10**8, 10**9)}"
    workflow_id = conversation_id(customer)
    try:
        async with running_stack(
            tmp_path, temporal_server, encrypted, payload_encryption_keys=keys
        ) as s:
            await s.text(customer, secret)
            await s.twilio.wait_for_messages(1)
            closing = await s.http.post(
                f"{s.gateway_url}/api/conversations/{workflow_id}/close", json={"reason": "done"}
            )
            assert closing.status_code < 300, closing.text
            result = await encrypted.get_workflow_handle(workflow_id).result()
            assert result["status"] == "closed"

            history = await cli_history(temporal_server, workflow_id)
            every = list(payloads(history))
            found = [payload for sealed, payload in every if sealed]
            assert len(found) > 3
            for payload in found:
                assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
            for _, payload in every:
                assert secret.encode() not in raw(payload)
                assert customer[1:].encode() not in raw(payload)
            assert secret not in json.dumps(history)

            wire = {"payloads": [{"metadata": p["metadata"], "data": p["data"]} for p in found]}
            decoded = await s.http.post(
                f"{s.gateway_url}/codec/decode",
                json=wire,
                headers={"X-Namespace": "default", "Origin": UI_ORIGIN},
            )
            assert decoded.status_code == 200, decoded.text
            assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
            opened = [base64.b64decode(p["data"]) for p in decoded.json()["payloads"]]
            assert any(secret.encode() in data for data in opened)

            async with httpx.AsyncClient(timeout=10) as anonymous:
                refused = await anonymous.post(f"{s.gateway_url}/codec/decode", json=wire)
                assert refused.status_code == 401
                preflight = await anonymous.options(
                    f"{s.gateway_url}/codec/decode",
                    headers={
                        "Origin": UI_ORIGIN,
                        "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "authorization,content-type",
                    },
                )
                assert preflight.status_code == 204
                assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
                assert "Authorization" in preflight.headers["access-control-allow-headers"]
                stranger = await anonymous.options(
                    f"{s.gateway_url}/codec/decode",
                    headers={
                        "Origin": "https://evil.example",
                        "Access-Control-Request-Method": "POST",
                    },
                )
                assert "access-control-allow-origin" not in stranger.headers

            forgotten = await s.http.delete(f"{s.gateway_url}/api/profiles/{customer}")
            assert forgotten.status_code == 200, forgotten.text
            after = await s.http.post(f"{s.gateway_url}/codec/decode", json=wire)
            assert after.status_code == 200
            opened = [base64.b64decode(p["data"]) for p in after.json()["payloads"]]
            assert not any(secret.encode() in data for data in opened)
            assert any(b"forgotten" in data for data in opened)
            with pytest.raises(DataKeyGone):
                await encrypted.get_workflow_handle(workflow_id).result()
    finally:
        await codec.close()
