"""``docker-compose.yml`` publishes the gateway to the network and nothing else.

Temporal's frontend and Web UI have no authentication of their own: published on every
interface they would let anyone start, signal or read any conversation. They are bound to
the host's loopback; the gateway is the one service meant to face the network.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FACES_THE_NETWORK = {"gateway"}


def published(service: dict[str, Any]) -> list[str]:
    """A service's port mappings, in compose's short form."""
    ports = service.get("ports") or []
    return [str(port) if not isinstance(port, dict) else _long_form(port) for port in ports]


def _long_form(port: dict[str, Any]) -> str:
    host_ip = port.get("host_ip")
    mapping = f"{port.get('published', '')}:{port.get('target', '')}"
    return f"{host_ip}:{mapping}" if host_ip else mapping


def test_only_the_gateway_is_published_beyond_loopback() -> None:
    yaml = importlib.import_module("yaml")  # PyYAML comes with uvicorn[standard]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, dict[str, Any]] = compose["services"]
    assert published(services["temporal"]), "Temporal's ports are still published (locally)"
    for name, service in services.items():
        if name in FACES_THE_NETWORK:
            continue
        for mapping in published(service):
            assert mapping.startswith("127.0.0.1:"), (
                f"{name} publishes {mapping} on every interface"
            )
