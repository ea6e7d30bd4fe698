"""``python -m gateway``: serve the gateway with uvicorn on GATEWAY_HOST:GATEWAY_PORT."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from switchboard.runtime.config import get_settings
from switchboard.runtime.logging import configure_logging


def main() -> None:
    """Run the gateway until interrupted."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        ws_ping_interval=20,
    )


if __name__ == "__main__":
    main()
