"""Oversized bodies, frames and floods against a running gateway, from outside, over sockets.

``python -m gateway`` runs as a child process, as ``make run`` and compose run it (with its
own uvicorn settings), with Twilio credentials, an operator key and no Temporal behind it:
everything here is answered before Temporal would be asked. The gateway's peak memory is
read from ``/proc`` before and after each attack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.limits import MIB, RELAY_FRAME_LIMIT
from switchboard.twilio.twiml import RELAY_PATH
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "limits-auth-token"
OPERATOR_KEY = "limits-operator-key"
_OURS = ("TWILIO_", "GATEWAY_", "LLM_", "HANDOFF_", "TEMPORAL_", "PUBLIC_BASE_URL", "MEMORY_")
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")


@dataclass
class Gateway:
    """A gateway process and where it listens."""

    process: asyncio.subprocess.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_memory(self) -> int:
        """The process's peak resident memory so far (``VmHWM``), in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")


@contextlib.asynccontextmanager
async def gateway(folder: Path, **variables: str) -> AsyncIterator[Gateway]:
    """``python -m gateway`` on loopback until the block exits (its log in ``folder``)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(
        PYTHONPATH=str(ROOT),
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(port),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        GATEWAY_API_KEY=OPERATOR_KEY,
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",  # nothing there: never needed
        MEMORY_DATABASE_URL=f"sqlite:///{folder / 'memory.db'}",
        LOG_FORMAT="console",
        **variables,
    )
    with (folder / "gateway.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", cwd=folder, env=env, stdout=log, stderr=log
        )
        try:
            running = Gateway(process, port)
            await _until_serving(running)
            yield running
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def _until_serving(running: Gateway) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(300):
            assert running.process.returncode is None, "the gateway exited"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{running.url}/metrics")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail("the gateway did not start")


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    async with gateway(tmp_path_factory.mktemp("gateway"), GATEWAY_MAX_CALLS="1") as running:
        yield running


# --- bodies ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a raw attack saw: the first bytes of the answer and how much it had sent."""

    answer: bytes
    sent: int


def attack(port: int, head: bytes, chunks: Iterable[bytes]) -> Outcome:
    """Send ``head``, then the ``chunks``, stopping as soon as an answer comes.

    Blocking on purpose (run in a thread): it watches for the answer between every write,
    as a client that streams a large upload would.
    """
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0.005)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the gateway has answered and closed
            sent += len(chunk)
        answer = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return Outcome(answer, sent)


def request_head(path: str, content_type: str, length: int | None = None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


FORM = "application/x-www-form-urlencoded"
MEMORY_SLACK = 16 * MIB
"""How much the gateway's peak memory may grow through an attack (a parse of the body
would add several times its size)."""


def big_form(fields: int) -> Iterator[bytes]:
    """A form of ``fields`` fields of 1,000 KiB each, as chunks of 256 KiB.

    Each field stays under the form parser's own 1 MiB cap on one field, so without a cap
    on the body the whole form would be parsed (and kept) before its signature is checked.
    """
    value = b"a" * (1000 * 1024)
    for i in range(fields):
        field = (b"&" if i else b"") + b"F%d=" % i + value
        for start in range(0, len(field), 256 * 1024):
            yield field[start : start + 256 * 1024]


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """``parts`` in HTTP/1.1 chunked framing."""
    for part in parts:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


async def test_a_50_mb_chunked_form_is_refused_before_it_is_sent_whole(gw: Gateway) -> None:
    peak = gw.peak_memory()
    head = request_head("/twilio/messaging", FORM)
    outcome = await asyncio.to_thread(attack, gw.port, head, chunked(big_form(50)))
    assert outcome.answer.startswith(b"HTTP/1.1 413"), outcome.answer[:200]
    # Well before the 50 MiB: the rest was still to send (what was sent sat in socket buffers).
    assert outcome.sent < 16 * MIB, f"{outcome.sent} bytes were sent before the answer"
    assert gw.peak_memory() - peak < MEMORY_SLACK


async def test_a_declared_180_mb_form_is_refused_unread(gw: Gateway) -> None:
    peak = gw.peak_memory()
    head = request_head("/twilio/messaging", FORM, length=180 * MIB)
    outcome = await asyncio.to_thread(attack, gw.port, head, big_form(180))
    assert outcome.answer.startswith(b"HTTP/1.1 413"), outcome.answer[:200]
    assert outcome.sent < 18 * MIB
    assert gw.peak_memory() - peak < MEMORY_SLACK


async def test_an_unauthenticated_150_mb_json_body_is_413_before_401(gw: Gateway) -> None:
    peak = gw.peak_memory()
    head = request_head("/api/knowledge", "application/json", length=150 * MIB)
    outcome = await asyncio.to_thread(attack, gw.port, head, [b"a" * (256 * 1024)] * 600)
    assert outcome.answer.startswith(b"HTTP/1.1 413"), outcome.answer[:200]
    assert gw.peak_memory() - peak < MEMORY_SLACK


async def test_a_body_of_the_wrong_type_is_415(gw: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gw.url, timeout=10) as http:
        twilio = await http.post("/twilio/messaging", json={"Body": "hi"})
        api = await http.post(
            "/api/conversations",
            data={"to": "+14155550100", "channel": "sms"},
            headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        )
    assert (twilio.status_code, api.status_code) == (415, 415)


# --- relay sockets ---------------------------------------------------------------------------


def relay_url(gw: Gateway) -> str:
    return f"ws://127.0.0.1:{gw.port}{RELAY_PATH}"


async def open_relay(gw: Gateway) -> ClientConnection:
    """A signed relay socket (``PUBLIC_BASE_URL`` is the gateway's own address here)."""
    url = relay_url(gw)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    return await connect(url, additional_headers={"X-Twilio-Signature": signature}, max_size=None)


async def open_relay_when_free(gw: Gateway) -> ClientConnection:
    """A socket, once an earlier test's socket has given its slot back."""
    for _ in range(50):
        try:
            return await open_relay(gw)
        except InvalidStatus:
            await asyncio.sleep(0.1)
    raise AssertionError("the relay slot was never given back")


async def test_an_oversized_relay_frame_closes_the_socket_with_1009(gw: Gateway) -> None:
    async with await open_relay_when_free(gw) as ws:
        await ws.send("x" * (RELAY_FRAME_LIMIT - 1024))  # within the limit: skipped, not fatal
        await ws.ping()
        await ws.send("x" * (RELAY_FRAME_LIMIT + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_a_relay_socket_over_the_call_limit_is_refused_with_503(gw: Gateway) -> None:
    first = await open_relay_when_free(gw)
    try:
        with pytest.raises(InvalidStatus) as refused:
            await open_relay(gw)
        assert refused.value.response.status_code == 503
    finally:
        await first.close()
    second = await open_relay_when_free(gw)  # its slot came back with the first's close
    await second.close()


# --- connections -----------------------------------------------------------------------------


async def test_connections_over_the_limit_are_answered_503(tmp_path: Path) -> None:
    async with gateway(tmp_path, GATEWAY_MAX_CONNECTIONS="3") as small:
        idle = [socket.create_connection(("127.0.0.1", small.port)) for _ in range(3)]
        try:
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(timeout=10) as http:
                crowded = await http.get(f"{small.url}/metrics")
            assert crowded.status_code == 503
        finally:
            for sock in idle:
                sock.close()
        # The server notices the closed sockets on its own time: poll, do not guess a delay.
        status = 0
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(100):
                status = (await http.get(f"{small.url}/metrics")).status_code
                if status == 200:
                    break
                await asyncio.sleep(0.1)
        assert status == 200
