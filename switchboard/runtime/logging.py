"""Structured logging, configured once per process.

JSON lines when stdout is not a terminal (containers, CI), coloured key=value on a terminal.
The standard library's loggers (uvicorn, temporalio) go through the same renderer. Context
such as ``conversation_id`` and ``channel`` is bound at the edge with ``bind_contextvars``.
"""

from __future__ import annotations

import logging
import sys

import structlog

from switchboard.runtime import log_privacy


def configure_logging(level: str = "INFO", fmt: str = "auto", *, mask_numbers: bool = True) -> None:
    """Set up structlog and the standard library's logging for this process.

    ``mask_numbers`` (``LOG_MASK_NUMBERS``) masks phone numbers in every line, the standard
    library's (uvicorn, temporalio) included, and in exception text (``log_privacy``).
    """
    json_output = fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    last: list[structlog.types.Processor] = [log_privacy.mask_numbers] if mask_numbers else []
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[*shared, *last, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, *last],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text here, so the mask reaches them (an exception may quote a
            # number); on a terminal only when numbers are not masked do they stay rich.
            structlog.processors.format_exc_info if json_output or mask_numbers else _identity,
            *last,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx2 is the MCP SDK's client: a line per request (an MCP session pings every 5 s).
    for noisy in ("httpx", "httpcore", "httpx2", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _identity(
    logger: object, name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    return event_dict
