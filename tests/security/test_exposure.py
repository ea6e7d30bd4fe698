"""Insecure modes never face the network; outside sandbox mode ``/api`` always needs a key.

``python -m gateway`` is run as a child process (as ``make run`` and compose run it), in an
empty directory (no ``.env``) with only the variables each case sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, running_stack
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
_OURS = ("TWILIO_", "GATEWAY_", "LLM_", "HANDOFF_", "TEMPORAL_", "PUBLIC_BASE_URL", "MEMORY_")


def gateway_env(tmp_path: Path, port: int, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(
        PYTHONPATH=str(ROOT),
        GATEWAY_PORT=str(port),
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",  # nothing there: never needed
        MEMORY_DATABASE_URL=f"sqlite:///{tmp_path / 'memory.db'}",
        LOG_FORMAT="console",
    )
    env.update(variables)
    return env


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


Started = list[asyncio.subprocess.Process]


@pytest.fixture
async def start_gateway() -> AsyncIterator[Started]:
    """Gateways a test started, stopped afterwards (by their own process handles)."""
    started: Started = []
    yield started
    for process in started:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def spawn(tmp_path: Path, started: Started, port: int, **variables: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", cwd=tmp_path,
        env=gateway_env(tmp_path, port, **variables),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    started.append(process)


async def refused(tmp_path: Path, started: Started, **variables: str) -> str:
    """Run the gateway; return its complaint once it exits refusing (fail if it serves)."""
    port = free_port()
    await spawn(tmp_path, started, port, **variables)
    process = started[-1]
    for _ in range(300):
        if process.returncode is not None:
            break
        assert not listening(port), f"the gateway started with {variables}"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=0.1)
    else:
        pytest.fail(f"the gateway neither refused nor started with {variables}")
    assert process.stdout is not None
    output = (await process.stdout.read()).decode()
    assert process.returncode == 2, output
    assert "refusing to start" in output
    return output


CREDENTIALS = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
KEY = {"GATEWAY_API_KEY": "operator-key"}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        # Sandbox mode: its auth token is a public constant.
        ({}, "sandbox mode"),
        (KEY, "sandbox mode"),
        # Signature checks off.
        ({**CREDENTIALS, **KEY, "TWILIO_VALIDATE_SIGNATURES": "false"},
         "TWILIO_VALIDATE_SIGNATURES=false"),
        # An operator API without a key.
        (CREDENTIALS, "GATEWAY_API_KEY"),
        ({**CREDENTIALS, "GATEWAY_API_KEY": ""}, "GATEWAY_API_KEY"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_insecure_settings_refuse_to_face_the_network(
    tmp_path: Path,
    start_gateway: Started,
    variables: dict[str, str],
    named: str,
    host: str,
) -> None:
    output = await refused(tmp_path, start_gateway, GATEWAY_HOST=host, **variables)
    assert named in output


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": AUTH_TOKEN}, "TWILIO_ACCOUNT_SID"),
        ({**CREDENTIALS, **KEY, "HANDOFF_WEBHOOK_URL": "https://crm.example.com/h"},
         "HANDOFF_WEBHOOK_SECRET"),
        ({**CREDENTIALS, **KEY, "HANDOFF_WEBHOOK_URL": "https://crm.example.com/h",
          "HANDOFF_WEBHOOK_SECRET": ""}, "HANDOFF_WEBHOOK_SECRET"),
    ],
)  # fmt: skip
async def test_half_configured_secrets_refuse_to_start_even_on_loopback(
    tmp_path: Path,
    start_gateway: Started,
    variables: dict[str, str],
    named: str,
) -> None:
    output = await refused(tmp_path, start_gateway, GATEWAY_HOST="127.0.0.1", **variables)
    assert named in output
    assert "Traceback" not in output


async def test_a_loopback_sandbox_gateway_starts_with_an_open_local_api(
    tmp_path: Path, start_gateway: Started
) -> None:
    # What `make run` does without credentials: it must keep working.
    port = free_port()
    await spawn(tmp_path, start_gateway, port, GATEWAY_HOST="127.0.0.1")
    process = start_gateway[-1]
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(300):
            assert process.returncode is None, "the loopback sandbox gateway exited"
            try:
                answer = await http.get(f"http://127.0.0.1:{port}/api/knowledge/search?q=x")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the gateway did not start")
    assert answer.status_code == 200, answer.text


async def test_with_twilio_credentials_the_api_needs_a_key_even_from_loopback(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with (
        running_stack(tmp_path, temporal_server, client, worker=False, gateway_api_key=None) as s,
        httpx.AsyncClient(timeout=10) as http,
    ):
        assert not s.settings.sandbox
        answer = await http.get(f"{s.gateway_url}/api/knowledge/search?q=returns")
        assert answer.status_code == 403
        assert "GATEWAY_API_KEY" in answer.json()["detail"]
        listed = await http.get(f"{s.gateway_url}/api/conversations")
        assert listed.status_code == 403


async def test_in_sandbox_mode_loopback_keeps_the_open_api(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    async with (
        running_stack(
            tmp_path, temporal_server, client, worker=False, gateway_api_key=None,
            twilio_account_sid=None, twilio_auth_token=None,
        ) as s,
        httpx.AsyncClient(timeout=10) as http,
    ):  # fmt: skip
        assert s.settings.sandbox
        answer = await http.get(f"{s.gateway_url}/api/knowledge/search?q=returns")
        assert answer.status_code == 200
