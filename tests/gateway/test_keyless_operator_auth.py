"""Without ``GATEWAY_API_KEY`` the operator API answers this machine's own requests only.

A browser on this machine also carries other sites' requests to ``localhost``: a form a
page elsewhere posts (``Sec-Fetch-Site: cross-site``, a foreign ``Origin``), a name of theirs
that resolves to 127.0.0.1 (DNS rebinding: their ``Host``), and a tunnel on this machine
forwards the internet's (``X-Forwarded-For``). Each is refused with 403 and changes nothing;
with a key configured, the key alone decides.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI

from gateway.dependencies import get_settings, operator_auth
from switchboard.runtime.config import Settings


def app_with(settings: Settings) -> tuple[FastAPI, list[str]]:
    app = FastAPI()
    app.dependency_overrides[get_settings] = lambda: settings
    acted: list[str] = []

    @app.post("/api/act", dependencies=[Depends(operator_auth)])
    async def act() -> dict[str, bool]:
        acted.append("yes")
        return {"ok": True}

    @app.post("/codec/decode", dependencies=[Depends(operator_auth)])
    async def decode() -> dict[str, bool]:
        acted.append("decoded")
        return {"ok": True}

    return app, acted


@pytest.mark.parametrize(
    ("base", "headers", "status"),
    [
        ("http://localhost:8000", {}, 200),
        ("http://127.0.0.1:8000", {"Sec-Fetch-Site": "same-origin"}, 200),
        ("http://127.0.0.1:8000", {"Sec-Fetch-Site": "none"}, 200),
        ("http://[::1]:8000", {"Origin": "http://[::1]:8000"}, 200),
        ("http://localhost:8000", {"Sec-Fetch-Site": "cross-site"}, 403),
        ("http://localhost:8000", {"Sec-Fetch-Site": "same-site"}, 403),
        ("http://localhost:8000", {"Origin": "https://evil.example"}, 403),
        ("http://localhost:8000", {"Origin": "null"}, 403),
        ("http://localhost:8000", {"Origin": "http://localhost:3000"}, 403),
        ("http://rebind.evil.example:8000", {}, 403),
        ("http://localhost:8000", {"X-Forwarded-For": "203.0.113.9"}, 403),
        ("http://localhost:8000", {"Forwarded": "for=203.0.113.9"}, 403),
    ],
)
async def test_without_a_key_only_this_machines_own_requests_act(
    base: str, headers: dict[str, str], status: int
) -> None:
    app, acted = app_with(Settings(_env_file=None, gateway_api_key=None))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=base) as http:
        response = await http.post("/api/act", headers=headers)
    assert response.status_code == status, response.text
    assert acted == (["yes"] if status == 200 else [])
    if status == 403:
        assert "GATEWAY_API_KEY" in response.json()["detail"]


async def test_with_a_key_the_key_alone_decides() -> None:
    app, acted = app_with(Settings(_env_file=None, gateway_api_key="k"))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="https://sb.example") as http:
        headers = {"Authorization": "Bearer k", "Origin": "https://sb.example"}
        assert (await http.post("/api/act", headers=headers)).status_code == 200
    assert acted == ["yes"]


@pytest.mark.parametrize(
    ("path", "origin", "status"),
    [
        ("/codec/decode", "http://localhost:8233", 200),
        ("/codec/decode", "https://evil.example", 403),
        ("/api/act", "http://localhost:8233", 403),
    ],
)
async def test_the_temporal_ui_may_use_the_codec_and_nothing_else(
    path: str, origin: str, status: int
) -> None:
    app, _ = app_with(Settings(_env_file=None, gateway_api_key=None))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as http:
        headers = {"Origin": origin, "Sec-Fetch-Site": "same-site"}
        assert (await http.post(path, headers=headers)).status_code == status
