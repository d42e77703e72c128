"""The one logger setup: structlog, JSON in production, readable in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

from fanfare_core.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library through one renderer chosen by the settings."""
    fmt = settings.log_format
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.EventRenamer("message") if fmt == "json" else _keep,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    extra = {"service": settings.service_name}
    structlog.contextvars.bind_contextvars(**extra)
    # uvicorn's own access log duplicates ours, which carries the request id.
    logging.getLogger("uvicorn.access").disabled = True


def _keep(
    logger: object, method_name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structured logger for a module."""
    return structlog.stdlib.get_logger(name)
