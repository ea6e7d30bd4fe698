"""The product's own processes for crash tests, joined to a test stack's Temporal and fakes.

``python worker.py`` and ``python -m gateway`` as child processes, so a test can SIGKILL
them as an operator's host would lose them.
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

from switchboard.runtime.config import Settings
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
LLM_KEY = "sk-test"


def app_env(settings: Settings, **env: str) -> dict[str, str]:
    """The environment a worker or gateway needs to join the stack of ``settings``."""
    own = ("TWILIO_", "LLM_", "TEMPORAL_", "GATEWAY_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    return (
        base
        | {
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "TWILIO_ACCOUNT_SID": settings.account_sid,
            "TWILIO_AUTH_TOKEN": settings.auth_token,
            "TWILIO_API_BASE_URL": settings.twilio_rest_base_url,
            "TWILIO_TASKROUTER_BASE_URL": settings.twilio_taskrouter_base_url,
            "PUBLIC_BASE_URL": settings.public_base_url,
            "LLM_BASE_URL": str(settings.llm_base_url),
            "LLM_API_KEY": LLM_KEY,
            "LLM_MODEL": "test-model",
            "MEMORY_DATABASE_URL": settings.memory_database_url,
            "LOG_FORMAT": "json",
        }
        | env
    )


class AppProcess:
    """``python <args>`` in the stack's environment (``env``: more of it); output to ``log``."""

    def __init__(self, args: list[str], settings: Settings, log: Path, **env: str) -> None:
        self._args = args
        self._env = app_env(settings, **env)
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path = ROOT) -> None:
        """Start it in ``cwd``, where its relative paths (a local outbox file) resolve: a
        directory of its own stands for a host of its own."""
        cwd.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *self._args], cwd=cwd, env=self._env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no shutdown, no background tasks, no close frames, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """After the test: gone, whether or not it got that far."""
        self.kill()


class WorkerProcess(AppProcess):
    """``python worker.py``."""

    def __init__(self, settings: Settings, log: Path, **env: str) -> None:
        super().__init__([str(ROOT / "worker.py")], settings, log, **env)

    def stop(self) -> None:
        """Shut down as on SIGTERM (its running tasks finish)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


class Workers:
    """The worker processes a test starts, each stopped after it (the ``workers`` fixture)."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._started: list[WorkerProcess] = []

    def start(self, settings: Settings, host: str | None = None, **env: str) -> WorkerProcess:
        """``python worker.py`` joined to the stack of ``settings``, started now.

        ``host``: in a directory of its own under the test's, as a worker on another host
        (its relative paths, a local outbox file, resolve there), logging to ``<host>.log``;
        otherwise in the repository, logging to ``worker.log``.
        """
        worker = WorkerProcess(settings, self._logs / f"{host or 'worker'}.log", **env)
        self._started.append(worker)
        worker.start(ROOT if host is None else self._logs / host)
        return worker

    def stop(self) -> None:
        """Every worker started, shut down."""
        for worker in self._started:
            worker.stop()


class GatewayProcess(AppProcess):
    """``python -m gateway`` on a port of its own (``url``).

    ``own_url``: Twilio signs for this gateway's own address; otherwise for the stack's
    ``PUBLIC_BASE_URL``, as another host of the same deployment (a webhook signed for one
    is valid on the other).
    """

    def __init__(self, settings: Settings, log: Path, *, own_url: bool = False, **env: str):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        if own_url:
            env = {"PUBLIC_BASE_URL": self.url, **env}
        super().__init__(["-m", "gateway"], settings, log, GATEWAY_PORT=str(port), **env)

    async def healthy(self) -> None:
        """Return once its ``/healthz`` answers 200 (it checks that Temporal is reachable)."""
        assert self.process is not None
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(300):
                assert self.process.poll() is None, self._log.read_text()[-2000:]
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway at {self.url} never became healthy")
