"""What a provider plugin implements. Adding a provider = one new module + one line in REGISTRY."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.http import HttpRequest


@dataclass(frozen=True)
class OutboundMessage:
    id: int
    to: str  # the URN's path: E.164 number, or a Telegram chat id
    channel: str
    sender: str
    text: str
    attachments: tuple[str, ...] = ()
    status_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    message_id: int
    accepted: bool
    provider_message_id: str | None = None
    # Not accepted: transient (429, 5xx, timeout: retried with backoff) or permanent (failed at once).
    transient: bool = False
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # delivered | failed | read
    error_code: str = ""
    at: datetime | None = None


class BaseConnector:
    backend: ClassVar[str]
    # True when sending the same message id twice cannot reach the recipient twice (the provider
    # dedupes on our id). Only then is a message stuck in `sending` after a crash sent again.
    idempotent: ClassVar[bool] = False

    def __init__(self, *, connector_id: str, name: str, channel: str, config: dict[str, Any]) -> None:
        self.connector_id = connector_id
        self.name = name
        self.channel = channel
        self.config = config

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Normalized config, or ValidationError naming the bad keys."""
        if not isinstance(config, dict):
            raise ValidationError({"config": ["The config must be a JSON object."]})
        return config

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        raise NotImplementedError

    def after_send(self, accepted: Sequence[SendResult]) -> None:
        """Hook run after the results are recorded (the simulator schedules its reports here)."""

    def parse_status(self, request: HttpRequest) -> list[StatusUpdate]:
        raise NotImplementedError
