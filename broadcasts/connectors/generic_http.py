"""The `http` backend: any provider (or in-house gateway) that speaks Herald's own small JSON protocol.

Config (SPEC §10): `url` (required, http or https: the endpoint every message is POSTed to, used as
given), `token` (optional secret: sent as `Authorization: Bearer <token>` and required on callbacks),
`idempotent` (default false: true only when the provider dedupes on `Idempotency-Key`, which is what
allows a message whose worker died mid-send to be sent again).

Send: `POST url` JSON `{"id", "to", "from", "channel", "text", "attachments", "status_url"}` with
`Idempotency-Key: <message id>`. Answers:
- 2xx: accepted; the provider id is the body's `id` (a string or an integer). A 2xx without a usable
  id (empty body, not JSON, no `id`) is still accepted, under our own message id as provider id: the
  provider said it took the message, so failing it would refund a message that may well be delivered
  and let retry-failed send it twice; reports for it match when the provider reports our id.
- 429 and 5xx: transient (`http_<status>`), with `Retry-After` (seconds or an HTTP date) honoured.
- timeouts and connection errors: transient (`timeout`, `connection_error`), from the shared engine.
- any other status (4xx, and 1xx/3xx, since redirects are not followed): permanent, `http_<status>`.

Callbacks: `POST /hooks/<id>/status/` with one report or an array of reports `{"id": "<provider id>",
"status": "delivered|failed|read", "error_code": "…"}` (other statuses mean no change), and
`POST /hooks/<id>/inbound/` with one message or an array of `{"id", "from", "to", "text"}`. Both must
carry `Authorization: Bearer <token>` with the connector's token, else 401; a connector without a
token refuses every callback (401), since anyone could otherwise forge reports.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest

from .base import (
    HOOK_INBOUND,
    HOOK_STATUS,
    HookRejected,
    HookResult,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    refuse_unknown_keys,
)
from .http import HttpAnswer, HttpCall, HttpConnector, retry_after_seconds

KNOWN_KEYS = {"url", "token", "idempotent"}
REPORT_STATUSES = frozenset({"delivered", "failed", "read"})
MAX_ERROR_MESSAGE = 200
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what fits in a header, no spaces or newlines
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
_E164_RE = re.compile(r"\+[1-9]\d{5,14}")


def _url(config: dict[str, Any]) -> str:
    value = config.get("url")
    if value is None or value == "":
        raise ValidationError({"config.url": ["url is required."]})
    if not isinstance(value, str):
        raise ValidationError({"config.url": ["url must be a string."]})
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValidationError({"config.url": ["url is not a valid URL."]}) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationError({"config.url": ["url must be an http:// or https:// URL with a host."]})
    if any(c.isspace() for c in url):
        raise ValidationError({"config.url": ["url must not contain spaces."]})
    return url


def _token(config: dict[str, Any]) -> str:
    value = config.get("token")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValidationError({"config.token": ["token must be a string."]})
    token = value.strip()
    if not _TOKEN_RE.fullmatch(token):
        raise ValidationError({"config.token": ["token must be printable ASCII without spaces."]})
    return token


def _idempotent(config: dict[str, Any]) -> bool:
    value = config.get("idempotent", False)
    if not isinstance(value, bool):
        raise ValidationError({"config.idempotent": ["idempotent must be true or false."]})
    return value


def _provider_id(value: Any) -> str:
    """The provider's id as a string ('' when absent or not a string/integer)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return ""


def _error_message(answer: HttpAnswer) -> str:
    """`HTTP <status>`, plus the provider's own `error`/`message` text when it gives one (truncated)."""
    body = answer.json()
    detail = ""
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                detail = value.strip()
                break
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                detail = value["message"].strip()
                break
    text = f"HTTP {answer.status}: {detail}" if detail else f"HTTP {answer.status}"
    return text[:MAX_ERROR_MESSAGE]


class HttpBackendConnector(HttpConnector):
    backend = "http"
    secret_keys = frozenset({"token"})

    def __init__(self, *, connector_id: str, name: str, channel: str, config: dict[str, Any]) -> None:
        super().__init__(connector_id=connector_id, name=name, channel=channel, config=config)
        raw = config if isinstance(config, dict) else {}
        # `idempotent` is per connector here: an instance attribute shadowing the class default, read
        # leniently (only a real `true` counts) so a damaged config never makes a connector resend.
        self.__dict__["idempotent"] = raw.get("idempotent") is True
        self.url = str(raw.get("url") or "").strip()
        token = raw.get("token")
        self.token = token.strip() if isinstance(token, str) else ""

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = super().validate_config(config)
        refuse_unknown_keys(config, KNOWN_KEYS, cls.backend)
        errors: dict[str, list[str]] = {}
        normalized: dict[str, Any] = {}
        for key, reader in (("url", _url), ("token", _token), ("idempotent", _idempotent)):
            try:
                normalized[key] = reader(config)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)
        return normalized

    # Sending -------------------------------------------------------------------------------------

    def call_for(self, message: OutboundMessage) -> HttpCall:
        headers = {"Accept": "application/json", "Idempotency-Key": str(message.id)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = {
            "id": str(message.id),
            "to": message.to,
            "from": message.sender,
            "channel": message.channel,
            "text": message.text,
            "attachments": list(message.attachments),
            "status_url": message.status_url,
        }
        return HttpCall("POST", self.url, headers=headers, json=body)

    def result_for(self, message: OutboundMessage, answer: HttpAnswer) -> SendResult:
        if answer.ok:
            body = answer.json()
            provider_id = _provider_id(body.get("id")) if isinstance(body, dict) else ""
            return SendResult(message.id, True, provider_message_id=provider_id or str(message.id))
        code = f"http_{answer.status}"
        if answer.status == 429 or 500 <= answer.status <= 599:
            return SendResult(
                message.id,
                False,
                transient=True,
                error_code=code,
                error_message=_error_message(answer),
                retry_after=retry_after_seconds(answer.headers),
            )
        return SendResult(message.id, False, error_code=code, error_message=_error_message(answer))

    # Callbacks -----------------------------------------------------------------------------------

    def handle_hook(self, request: HttpRequest, *, kind: str, public_url: str) -> HookResult:
        if kind not in (HOOK_STATUS, HOOK_INBOUND):
            raise HookRejected(404, f"The http backend takes no '{kind}' callbacks.")
        if request.method != "POST":
            raise HookRejected(405, "Callbacks are POSTed.")
        self._authenticate(request)
        items = self._items(request)
        if kind == HOOK_STATUS:
            return HookResult(updates=[u for u in (self._report(item) for item in items) if u is not None])
        return HookResult(inbound=[self._inbound(item) for item in items])

    def _authenticate(self, request: HttpRequest) -> None:
        if not self.token:
            raise HookRejected(401, "This connector has no token: set one to receive callbacks.")
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        valid = hmac.compare_digest(presented.strip().encode(), self.token.encode())
        if scheme.lower() != "bearer" or not valid:
            raise HookRejected(401, "Missing or wrong bearer token.")

    @staticmethod
    def _items(request: HttpRequest) -> list[dict[str, Any]]:
        try:
            payload = json.loads(request.body)
        except RequestDataTooBig:
            raise HookRejected(413, "The callback is too large; send smaller batches.") from None
        except ValueError:
            raise HookRejected(400, "The body must be JSON: one object or an array of objects.") from None
        items = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(item, dict) for item in items):
            raise HookRejected(400, "The body must be JSON: one object or an array of objects.")
        return items

    @staticmethod
    def _report(item: dict[str, Any]) -> StatusUpdate | None:
        provider_id = _provider_id(item.get("id"))
        if not provider_id:
            raise HookRejected(400, "Every report needs an 'id' (the provider message id).")
        status = item.get("status")
        if not isinstance(status, str) or not status.strip():
            raise HookRejected(400, "Every report needs a 'status'.")
        status = status.strip().lower()
        if status not in REPORT_STATUSES:
            return None  # sent, queued, accepted…: no change
        error_code = item.get("error_code")
        code = "" if status != "failed" or error_code is None or isinstance(error_code, bool) else str(error_code)
        return StatusUpdate(provider_id, status, error_code=code.strip()[:64])

    def _inbound(self, item: dict[str, Any]) -> InboundMessage:
        sender = item.get("from")
        if isinstance(sender, int) and not isinstance(sender, bool):
            sender = str(sender)
        if not isinstance(sender, str) or not sender.strip():
            raise HookRejected(400, "Every inbound message needs a 'from'.")
        text = item.get("text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise HookRejected(400, "An inbound message's 'text' must be a string.")
        to = item.get("to")
        return InboundMessage(
            urn=self._urn(sender.strip()),
            text=text,
            provider_message_id=_provider_id(item.get("id")),
            to=to.strip() if isinstance(to, str) else "",
        )

    def _urn(self, sender: str) -> str:
        """The sender as a URN of this connector's channel: `telegram:<chat id>`, else a number."""
        scheme, _, rest = sender.partition(":")
        if rest and scheme.lower() in {"tel", "whatsapp", "telegram"}:
            sender = rest.strip()
        if self.channel == "telegram":
            if not re.fullmatch(r"-?\d+", sender):
                raise HookRejected(400, "An inbound 'from' on Telegram must be a chat id.")
            return f"telegram:{sender}"
        number = _PHONE_PUNCTUATION.sub("", sender)
        if number.startswith("00"):
            number = "+" + number[2:]
        elif not number.startswith("+"):
            number = "+" + number
        if not _E164_RE.fullmatch(number):
            raise HookRejected(400, "An inbound 'from' must be a phone number in international form.")
        return f"{'whatsapp' if self.channel == 'whatsapp' else 'tel'}:{number}"


GenericHttpConnector = HttpBackendConnector
