"""What a provider plugin implements. Adding a provider = one new module + one line in REGISTRY.

A plugin imports only this module (and `http.py` for HTTP providers). It never touches the database
or enqueues tasks: it turns our messages into provider calls, provider answers into `SendResult`s,
and provider callbacks into `StatusUpdate`s and `InboundMessage`s. The dispatcher and the hooks view
do the rest (recording, refunds, opt-outs, follow-up work), so every plugin is testable against a
local server that speaks the provider's wire format.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

HOOK_STATUS = "status"
HOOK_INBOUND = "inbound"


@dataclass(frozen=True)
class OutboundMessage:
    id: int
    to: str  # the URN's path: E.164 number, or a Telegram chat id
    channel: str
    sender: str
    text: str
    attachments: tuple[str, ...] = ()
    status_url: str = ""  # PUBLIC_BASE_URL + /hooks/<connector id>/status/
    # Template sends (WhatsApp): the template's name, its language (ISO 639-3, as Herald stores it)
    # and the values of its variables in the order they first appear in the template.
    template: str = ""
    language: str = ""
    parameters: tuple[str, ...] = ()
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
    # Seconds the provider asked us to wait (Retry-After, Telegram's retry_after).
    retry_after: float | None = None
    # The provider says the recipient refuses our messages (Twilio 21610, Telegram 403): opt them out.
    opt_out: bool = False
    # Accepted and as good as delivered: the provider reports nothing later (Telegram).
    delivered: bool = False
    # The request was written but no complete answer came back (a read timeout, a reset after
    # writing, a 2xx whose body could not be read): the provider may or may not have the message.
    # Never sent again unless the connector is idempotent (SPEC §10, "Outcomes of one request").
    unknown: bool = False


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # delivered | failed | read
    error_code: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A message a contact sent us (a reply, a keyword, Telegram's /start)."""

    urn: str  # "tel:+256…", "whatsapp:+256…", "telegram:123456789"
    text: str
    provider_message_id: str = ""
    to: str = ""  # our number or bot, as the provider names it
    first_name: str = ""
    last_name: str = ""
    language: str = ""  # ISO 639-3 when the provider tells (Telegram's language_code), else ""
    received_at: datetime | None = None


@dataclass(frozen=True)
class ReportLater:
    """Ask the dispatcher to apply `reports_for(provider_message_ids)` after `delay` seconds."""

    provider_message_ids: tuple[str, ...]
    delay: float


@dataclass
class HookResult:
    updates: list[StatusUpdate] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    # What to answer the provider instead of the default `200 {"ok": true}` (Twilio's empty TwiML,
    # WhatsApp's verification challenge).
    response: HttpResponse | None = None


class HookRejected(Exception):  # noqa: N818 - an answer, not a bug
    """The callback is refused: 401 (bad token) or 403 (bad signature); nothing is applied."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BaseConnector:
    backend: ClassVar[str]
    # True when sending the same message id twice cannot reach the recipient twice (the provider
    # dedupes on our id). Only then is a message whose outcome is unknown (a request that left
    # without a complete answer, a sender that died after handing it over) sent again.
    idempotent: ClassVar[bool] = False
    # The most messages the dispatcher hands over in one request group (broadcasts/sending.py): each
    # group costs a few statements (its handed mark, its record), so a backend that pipelines a
    # group cheaply (SMPP's window) takes larger ones; at most a pacing tick's share of the tps.
    group_max: ClassVar[int] = 100
    # A claimed batch holds at least this many of the backend's groups when it has that many due
    # (0: BROADCAST_BATCH_SIZE alone decides). Within a batch a group is recorded while the next is
    # in flight; between batches nothing is, so a backend whose group is a whole batch (SMPP's 500)
    # would otherwise wait on every claim, handed mark and record in turn.
    batch_groups: ClassVar[int] = 0
    # Config keys whose values are secrets: masked in the admin, the API and logs.
    secret_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, connector_id: str, name: str, channel: str, config: dict[str, Any]) -> None:
        self.connector_id = connector_id
        self.name = name
        self.channel = channel
        self.config = config

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Normalized config, or ValidationError naming the bad keys (`config.<key>`)."""
        if not isinstance(config, dict):
            raise ValidationError({"config": ["The config must be a JSON object."]})
        return config

    @classmethod
    def masked_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The config with every secret's value replaced, for the admin, the API and logs."""
        return {k: mask(v) if k in cls.secret_keys else v for k, v in (config or {}).items()}

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        raise NotImplementedError

    def submit(self, batch: Sequence[OutboundMessage]) -> Future[list[SendResult]]:
        """Start sending `batch`; its results come through the future. Here the batch is sent
        before returning; the HTTP backends return at once, their requests running on their event
        loop, so the dispatcher records one group while the next is in flight."""
        future: Future[list[SendResult]] = Future()
        try:
            future.set_result(self.send(batch))
        except Exception as exc:  # noqa: BLE001 - delivered through the future, as a pooled send's would be
            future.set_exception(exc)
        return future

    def after_send(self, accepted: Sequence[SendResult]) -> list[ReportLater]:
        """Follow-up work once the results are recorded: reports to ask this plugin for later (the
        simulator reports itself). The dispatcher schedules it; a plugin never enqueues a task."""
        return []

    def reports_for(self, provider_message_ids: Sequence[str]) -> list[StatusUpdate]:
        """The reports a `ReportLater` asked for (only plugins that report themselves)."""
        return []

    def handle_hook(self, request: HttpRequest, *, kind: str, public_url: str) -> HookResult:
        """Authenticate and parse a provider callback to /hooks/<id>/<kind>/.

        `kind` is HOOK_STATUS or HOOK_INBOUND (providers with one callback URL accept every callback
        on both); `public_url` is the URL the provider called, as it knows it (PUBLIC_BASE_URL + path
        + query), which is what Twilio signs. Raises HookRejected (401/403) when it is not genuine.
        """
        raise HookRejected(404, f"The {self.backend} backend takes no callbacks.")


def mask(value: Any) -> str:
    text = str(value or "")
    if not text:
        return ""
    return f"{'•' * 8}{text[-4:]}" if len(text) >= 12 else "•" * 8


def require_text(config: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    """A config value that must be a non-empty string (when required); ValidationError naming it."""
    value = config.get(key, default)
    if value is None or value == "":
        if required:
            raise ValidationError({f"config.{key}": [f"{key} is required."]})
        return default
    if not isinstance(value, str):
        raise ValidationError({f"config.{key}": [f"{key} must be a string."]})
    return value.strip()


def refuse_unknown_keys(config: dict[str, Any], known: set[str], backend: str) -> None:
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValidationError(
            {f"config.{k}": [f"Unknown {backend} setting; known: {', '.join(sorted(known))}."] for k in unknown}
        )
