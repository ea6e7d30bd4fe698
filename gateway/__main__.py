"""``python -m gateway``: serve the gateway with uvicorn on GATEWAY_HOST:GATEWAY_PORT.

A gateway bound to anything but loopback faces the network, so it refuses to start (a
clear message, exit status 2) with a setting that is only safe on one's own machine:
signature checks off, sandbox mode (its auth token is a public constant, so anyone can sign
webhooks), or an operator API without ``GATEWAY_API_KEY``.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gateway.app import create_app
from gateway.drain import DrainingServer
from gateway.limits import RELAY_FRAME_LIMIT
from switchboard.runtime.config import Settings, get_settings
from switchboard.runtime.logging import configure_logging
from switchboard.runtime.tracing import start_tracing, stop_tracing

EXIT_REFUSED = 2
"""Exit status of a gateway that refuses its configuration."""
EXIT_NOT_STARTED = 3
"""Exit status of a gateway whose server did not start (as ``uvicorn.run``'s)."""


def is_loopback(host: str) -> bool:
    """True when ``host`` (``GATEWAY_HOST``) only accepts connections from this machine.

    ``localhost`` and loopback addresses are; ``0.0.0.0``, ``::``, an empty host, any other
    address and any other name (it may resolve to anything) are not.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refusals(settings: Settings) -> list[str]:
    """Why this configuration must not face the network; empty when it may, or on loopback."""
    if is_loopback(settings.gateway_host):
        return []
    bound = f"GATEWAY_HOST={settings.gateway_host} faces the network"
    problems = []
    if not settings.twilio_validate_signatures:
        problems.append(f"{bound}, but TWILIO_VALIDATE_SIGNATURES=false lets anyone post webhooks")
    if settings.sandbox:
        problems.append(
            f"{bound}, but sandbox mode (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN unset) signs"
            " webhooks with a public token: set the Twilio credentials"
        )
    if settings.gateway_api_key is None:
        problems.append(f"{bound}, but GATEWAY_API_KEY is unset: set one to protect /api")
    return problems


def main() -> None:
    """Run the gateway until interrupted; exit with status 2 on a refused configuration."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        sys.exit(_refuse([_described(error) for error in exc.errors()]))
    configure_logging(
        settings.log_level, settings.log_format, mask_numbers=settings.log_mask_numbers
    )
    problems = refusals(settings)
    if problems:
        sys.exit(_refuse(problems))
    # Before the app is built: it is instrumented, and its clients intercepted, only if on.
    start_tracing("switchboard-gateway")
    app = create_app(settings)
    # uvicorn.run's server, but a SIGTERM drains the live calls first (gateway.drain).
    server = DrainingServer(
        uvicorn.Config(app, **server_options(settings)), app, settings.gateway_drain_seconds
    )
    server.run()
    stop_tracing()  # export the last spans
    if not server.started:
        sys.exit(EXIT_NOT_STARTED)


def server_options(settings: Settings) -> dict[str, Any]:
    """The settings uvicorn serves the gateway with, its limits included.

    ``limit_concurrency`` answers 503 past ``GATEWAY_MAX_CONNECTIONS`` open connections (or
    requests in flight), sockets included; ``ws_max_size`` closes a relay socket that sends a
    frame over ``RELAY_FRAME_LIMIT`` with 1009. Request bodies are capped in the app
    (``gateway.limits``), per route.
    """
    return {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "log_config": None,
        "access_log": False,
        "ws_ping_interval": 20,
        "ws_max_size": RELAY_FRAME_LIMIT,
        "limit_concurrency": settings.gateway_max_connections,
    }


def _described(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]).upper()
    return f"{where}: {error['msg']}" if where else error["msg"]


def _refuse(problems: list[str]) -> int:
    lines = ["switchboard gateway: refusing to start:", *(f"  - {p}" for p in problems)]
    sys.stderr.write("\n".join(lines) + "\n")
    return EXIT_REFUSED


if __name__ == "__main__":
    main()
