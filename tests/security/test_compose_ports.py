"""``docker-compose.yml`` publishes the gateway (or, in production, the proxy) and nothing else.

Temporal's frontend and Web UI have no authentication of their own: published on every
interface they would let anyone start, signal or read any conversation. They are bound to
the host's loopback; the gateway is the one service meant to face the network, and in the
``production`` profile the proxy in front of the gateways is, the gateways themselves
publishing nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FACES_THE_NETWORK = {"gateway", "proxy"}


def published(service: dict[str, Any]) -> list[str]:
    """A service's port mappings, in compose's short form."""
    ports = service.get("ports") or []
    return [str(port) if not isinstance(port, dict) else _long_form(port) for port in ports]


def _long_form(port: dict[str, Any]) -> str:
    host_ip = port.get("host_ip")
    mapping = f"{port.get('published', '')}:{port.get('target', '')}"
    return f"{host_ip}:{mapping}" if host_ip else mapping


def services() -> dict[str, dict[str, Any]]:
    """The services of ``docker-compose.yml``, every profile's."""
    yaml = importlib.import_module("yaml")  # PyYAML comes with uvicorn[standard]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_only_the_gateway_is_published_beyond_loopback() -> None:
    every = services()
    assert published(every["temporal"]), "Temporal's ports are still published (locally)"
    for name, service in every.items():
        if name in FACES_THE_NETWORK:
            continue
        for mapping in published(service):
            assert mapping.startswith("127.0.0.1:"), (
                f"{name} publishes {mapping} on every interface"
            )


def test_in_production_only_the_proxy_faces_the_network() -> None:
    production = {
        name: service
        for name, service in services().items()
        if "production" in service.get("profiles", [])
    }
    assert published(production["proxy"]), "the proxy publishes nothing"
    assert published(production["temporal-ui"]) == ["127.0.0.1:8080:8080"]
    for name, service in production.items():
        if name == "proxy":
            continue
        if name.startswith("gateway"):
            assert not published(service), f"{name} is reachable around the proxy"
        for mapping in published(service):
            assert mapping.startswith("127.0.0.1:"), f"{name} publishes {mapping}"
