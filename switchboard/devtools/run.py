"""``python -m switchboard.devtools.run`` (``make run``): the whole stack in the foreground.

Starts a Temporal dev server (state in ``.data/temporal.db``, Web UI on :8233) unless one
already answers at ``TEMPORAL_ADDRESS``, then one worker and the gateway as child processes.
Ctrl-C stops all three, gateway first so no webhook is accepted without a worker behind it.

Payloads are encrypted here too: without ``PAYLOAD_ENCRYPTION_KEYS`` a key is made once in
``.data/payload-keys`` (readable by its owner only) and used from then on, and the UI is
started with the gateway's ``/codec`` as its codec endpoint, so it shows them decrypted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import structlog
from temporalio.client import Client

from switchboard.devtools.devserver import DevServer, detach_and_die_with_parent
from switchboard.runtime.config import get_settings
from switchboard.runtime.logging import configure_logging
from switchboard.runtime.payload_keys import VARIABLE, new_key_setting, parse_keys

log = structlog.get_logger("switchboard.devtools.run")
DATA = Path(".data")
KEYS_FILE = DATA / "payload-keys"


def local_payload_keys(path: Path) -> str:
    """The local master key: made once in ``path`` (mode 0600), then read from it.

    Raises:
        PayloadKeyError: the file holds something other than a key setting.
    """
    if not path.exists():
        # O_EXCL: two ``make run`` starting at once cannot each write a different key.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(new_key_setting("local1") + "\n")
            log.info("payload_key_created", file=str(path))
    value = path.read_text().strip()
    parse_keys(value)
    return value


def use_local_payload_keys() -> None:
    """In a command run beside ``make run``: its local key, unless one is configured.

    The re-analysis and replay-gate commands read histories and query results that the
    ``make run`` worker encrypted with ``.data/payload-keys``; without it they could not
    decode them. Call before the settings are first read.
    """
    if not os.environ.get(VARIABLE) and KEYS_FILE.exists():
        os.environ[VARIABLE] = KEYS_FILE.read_text().strip()


async def _temporal_answers(address: str) -> bool:
    try:
        client = await asyncio.wait_for(Client.connect(address), timeout=2)
        return bool(await client.service_client.check_health())
    except Exception:
        return False


async def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while asyncio.get_running_loop().time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the gateway did not become healthy in time")


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], preexec_fn=detach_and_die_with_parent, env=os.environ.copy()
    )


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("killing", process=name)
        process.kill()
        process.wait()


async def main() -> None:
    """Bring the stack up, print where everything is, and wait for Ctrl-C."""
    settings = get_settings()
    configure_logging(
        settings.log_level, settings.log_format, mask_numbers=settings.log_mask_numbers
    )
    DATA.mkdir(exist_ok=True)  # noqa: ASYNC240 - once, at start-up
    if settings.master_keys is None:
        # The worker and gateway inherit it (they are spawned with this environment).
        os.environ[VARIABLE] = local_payload_keys(KEYS_FILE)
    server: DevServer | None = None
    if not await _temporal_answers(settings.temporal_address):
        host, _, port = settings.temporal_address.rpartition(":")
        server = DevServer(
            ip="127.0.0.1" if host in ("localhost", "") else host,
            port=int(port),
            db_file=DATA / "temporal.db",
            log_file=DATA / "temporal.log",
            ui_codec_endpoint=f"http://{_browser_host(settings.gateway_host)}:"
            f"{settings.gateway_port}/codec",
        )
        log.info("temporal_starting", address=server.address, db=str(server.db_file))
        await server.start()
    worker = _spawn("worker.py")
    gateway = _spawn("-m", "gateway")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        local = f"http://{settings.gateway_host}:{settings.gateway_port}"
        await _wait_healthy(local, gateway)
        _banner(local, settings.sandbox, settings.llm_configured, server is not None)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1)
            for name, process in (("worker", worker), ("gateway", gateway)):
                if process.poll() is not None:
                    log.error("process_exited", process=name, code=process.returncode)
                    stop.set()
    finally:
        log.info("stopping")
        _stop(gateway, "gateway")
        _stop(worker, "worker")
        if server is not None:
            server.stop()


def _browser_host(host: str) -> str:
    # A browser cannot call a wildcard address: the gateway is on this machine's loopback too.
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def _banner(gateway: str, sandbox: bool, llm: bool, own_temporal: bool) -> None:
    lines = [
        "",
        "Switchboard is running.",
        f"  Gateway      {gateway}  (Twilio webhooks: /twilio/messaging, /twilio/voice)",
        "  Temporal UI  http://localhost:8233" + ("" if own_temporal else " (your own server)"),
        f"  Twilio       {'SANDBOX: replies go to the local outbox' if sandbox else 'live'}",
        f"  LLM          {'configured' if llm else 'offline demo responder (set LLM_BASE_URL)'}",
        "",
        "Text the agent as a customer:  make chat   (in another terminal)",
        "Stop everything:               Ctrl-C",
        "",
    ]
    sys.stderr.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
