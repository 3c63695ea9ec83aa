"""WhatsApp Cloud API (Meta's Graph API): templates and free text out; statuses and replies back on one URL.

A message with a template goes out as a `type: template` message (outside a 24-hour customer-service
window WhatsApp delivers nothing else); a message without one is free text, a `type: text` message,
which WhatsApp delivers only inside the window: the dispatcher sends such messages only to numbers
that wrote to this connector within 24 hours (broadcasts/whatsapp_window.py), so this plugin just
says which kind each message is. Herald stores a template's language as ISO 639-3 (`eng`);
WhatsApp names its template languages by ISO 639-1, with a region where it only offers regional
variants (`en`, `fr`, `pt_BR`), so the code is derived with pycountry, not a table of 639-3 codes.

Meta calls one webhook URL per app for everything: a `GET` to verify the URL (`hub.challenge` echoed
when `hub.verify_token` matches) and signed `POST`s carrying both delivery statuses and inbound
messages, so both hook paths accept every callback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import urlsplit

import pycountry
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from .base import (
    HookRejected,
    HookResult,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    refuse_unknown_keys,
    require_text,
)
from .http import HttpAnswer, HttpCall, HttpConnector, retry_after_seconds, utc_from_timestamp

DEFAULT_API_VERSION = "v21.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"
KNOWN_KEYS = {"phone_number_id", "access_token", "app_secret", "verify_token", "api_version", "base_url"}
API_VERSION_FORM = re.compile(r"v\d{1,3}\.\d{1,2}")

# Graph API error codes that mean "too fast, try later" (throughput and rate limits), per Meta's
# error-code reference: 4 (app rate limit), 80007 (WABA rate limit), 130429 (throughput), 131048
# (spam rate limit), 131056 (too many messages to one recipient). Every other coded error is final.
TRANSIENT_ERROR_CODES = frozenset({4, 80007, 130429, 131048, 131056})

# WhatsApp's catalogue has no bare code for these languages, only regional variants: the region it
# lists first stands in for the language. Every other language is its ISO 639-1 code.
REGION_ONLY = {"pt": "pt_BR", "zh": "zh_CN", "rw": "rw_RW", "ky": "ky_KG"}

# Inbound message types that carry nothing a contact wrote to us: reactions to our own messages,
# WhatsApp's system notices (number changed) and message kinds the Cloud API cannot show.
SKIPPED_INBOUND_TYPES = frozenset({"reaction", "system", "unsupported", "request_welcome", "ephemeral"})


@lru_cache(maxsize=256)
def whatsapp_language(code: str) -> str | None:
    """WhatsApp's template language code for an ISO 639-3 (or 639-2/B) code, None when unknown."""
    code = (code or "").strip().lower()
    language = None
    if len(code) == 3:
        language = pycountry.languages.get(alpha_3=code)
        if language is None:
            try:
                language = pycountry.languages.get(bibliographic=code)
            except KeyError:  # older pycountry raises on an unknown attribute value
                language = None
    elif len(code) == 2:
        language = pycountry.languages.get(alpha_2=code)
    if language is None:
        return None
    alpha_2 = getattr(language, "alpha_2", None)
    if not alpha_2:
        # A few languages have no 639-1 code; WhatsApp then uses the three letters (Filipino: fil).
        return str(language.alpha_3)
    return REGION_ONLY.get(alpha_2, alpha_2)


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _object(value: Any) -> dict[str, Any]:
    """A JSON object from a payload we do not trust to have the documented shape, else {}."""
    return value if isinstance(value, dict) else {}


def _error_code(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


class WhatsappCloudConnector(HttpConnector):
    backend = "whatsapp_cloud"
    idempotent = False  # the Cloud API has no idempotency key: a resend can reach the recipient twice
    secret_keys = frozenset({"access_token", "app_secret", "verify_token"})

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = super().validate_config(config)
        refuse_unknown_keys(config, KNOWN_KEYS, cls.backend)
        errors: dict[str, list[str]] = {}
        values: dict[str, str] = {}
        for key, default in (
            ("phone_number_id", None),
            ("access_token", None),
            ("app_secret", None),
            ("verify_token", None),
            ("api_version", DEFAULT_API_VERSION),
            ("base_url", DEFAULT_BASE_URL),
        ):
            try:
                values[key] = require_text(config, key, required=default is None, default=default or "")
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if "phone_number_id" in values and not values["phone_number_id"].isdigit():
            errors["config.phone_number_id"] = ["phone_number_id must be the digits of the WhatsApp phone number ID."]
        if "api_version" in values and not API_VERSION_FORM.fullmatch(values["api_version"]):
            errors["config.api_version"] = ["api_version must look like v21.0."]
        if "base_url" in values:
            values["base_url"] = values["base_url"].rstrip("/")
            parts = urlsplit(values["base_url"])
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                errors["config.base_url"] = ["base_url must be an http(s) URL such as https://graph.facebook.com."]
        if errors:
            raise ValidationError(errors)
        return values

    @cached_property
    def settings(self) -> dict[str, str]:
        """The config as validated (defaults filled in); read once per connector instance."""
        return self.validate_config(self.config)

    # Sending.

    def refusal(self, message: OutboundMessage) -> SendResult | None:
        """A permanent failure for a message WhatsApp cannot take, before any call; None when sendable."""
        if not message.template and not message.text.strip():
            reason = ("whatsapp_text_required", "The message has neither a template nor text to send.")
        elif message.template and whatsapp_language(message.language) is None:
            reason = ("whatsapp_language_unsupported", "The template's language has no WhatsApp code.")
        elif not _digits(message.to):
            reason = ("whatsapp_invalid_recipient", "The recipient is not a phone number.")
        else:
            return None
        return SendResult(message.id, False, error_code=reason[0], error_message=reason[1])

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        refused = [self.refusal(m) for m in batch]
        sendable = [m for m, r in zip(batch, refused, strict=True) if r is None]
        sent = iter(super().send(sendable) if sendable else [])
        return [r if r is not None else next(sent) for r in refused]

    def call_for(self, message: OutboundMessage) -> HttpCall:
        cfg = self.settings
        body: dict[str, Any] = {"messaging_product": "whatsapp", "to": _digits(message.to)}
        if message.template:
            template: dict[str, Any] = {
                "name": message.template,
                "language": {"code": whatsapp_language(message.language)},
            }
            if message.parameters:
                template["components"] = [
                    {"type": "body", "parameters": [{"type": "text", "text": p} for p in message.parameters]}
                ]
            body.update({"type": "template", "template": template})
        else:
            body.update({"type": "text", "text": {"body": message.text}})  # free text, inside the window
        return HttpCall(
            method="POST",
            url=f"{cfg['base_url']}/{cfg['api_version']}/{cfg['phone_number_id']}/messages",
            headers={"Authorization": f"Bearer {cfg['access_token']}"},
            json=body,
        )

    def result_for(self, message: OutboundMessage, answer: HttpAnswer) -> SendResult:
        body = _object(answer.json())
        if answer.ok:
            messages = body.get("messages")
            first = messages[0] if isinstance(messages, list) and messages else None
            provider_id = first.get("id") if isinstance(first, dict) else None
            # Accepted even without an id to match reports against: resending could reach them twice.
            return SendResult(message.id, True, provider_message_id=str(provider_id) if provider_id else None)
        error = _object(body.get("error"))
        code = _error_code(error.get("code"))
        # 429 without a readable Graph error is a proxy's or the edge's throttling: retry it too.
        transient = answer.status >= 500 or code in TRANSIENT_ERROR_CODES or (answer.status == 429 and code is None)
        return SendResult(
            message.id,
            False,
            transient=transient,
            error_code=f"whatsapp_{code}" if code is not None else f"whatsapp_http_{answer.status}",
            error_message=str(error.get("message") or f"HTTP {answer.status}")[:500],
            retry_after=retry_after_seconds(answer.headers),
        )

    # Callbacks.

    def handle_hook(self, request: HttpRequest, *, kind: str, public_url: str) -> HookResult:
        if request.method == "GET":
            return self.verification(request)
        if request.method != "POST":
            raise HookRejected(405, "WhatsApp callbacks are GET (verification) or POST.")
        self.authenticate(request)
        try:
            payload = json.loads(request.body)
        except ValueError:
            return HookResult()  # signed by Meta yet unreadable: acknowledge, or Meta retries it for days
        return self.parse(payload)

    def verification(self, request: HttpRequest) -> HookResult:
        """Meta's subscription check: echo hub.challenge when hub.verify_token is ours."""
        token = request.GET.get("hub.verify_token", "")
        expected = self.settings["verify_token"]
        matches = hmac.compare_digest(token.encode(), expected.encode())
        if request.GET.get("hub.mode") != "subscribe" or not matches:
            raise HookRejected(403, "The verify token does not match.")
        return HookResult(response=HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain"))

    def authenticate(self, request: HttpRequest) -> None:
        """X-Hub-Signature-256 must be `sha256=` + hex HMAC-SHA256 of the raw body under the app secret."""
        header = request.headers.get("X-Hub-Signature-256", "")
        scheme, _, given = header.partition("=")
        expected = hmac.new(self.settings["app_secret"].encode(), request.body, hashlib.sha256).hexdigest()
        if scheme != "sha256" or not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
            raise HookRejected(403, "Missing or invalid X-Hub-Signature-256.")

    def parse(self, payload: Any) -> HookResult:
        result = HookResult()
        entries = payload.get("entry") if isinstance(payload, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            changes = entry.get("changes") if isinstance(entry, dict) else None
            for change in changes if isinstance(changes, list) else []:
                value = change.get("value") if isinstance(change, dict) else None
                if not isinstance(value, dict) or not self.is_ours(value):
                    continue
                result.updates.extend(self.status_updates(value))
                result.inbound.extend(self.inbound_messages(value))
        return result

    def is_ours(self, value: dict[str, Any]) -> bool:
        """One app's webhook carries every phone number of the app: keep only this connector's number."""
        number_id = _object(value.get("metadata")).get("phone_number_id")
        return number_id is None or str(number_id) == self.settings["phone_number_id"]

    @staticmethod
    def status_updates(value: dict[str, Any]) -> list[StatusUpdate]:
        updates = []
        statuses = value.get("statuses")
        for item in statuses if isinstance(statuses, list) else []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            status, at = item.get("status"), utc_from_timestamp(item.get("timestamp"))
            if status in ("delivered", "read"):
                updates.append(StatusUpdate(str(item["id"]), status, at=at))
            elif status == "failed":
                errors = item.get("errors")
                first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
                code = _error_code(first.get("code"))
                error_code = f"whatsapp_{code}" if code is not None else "whatsapp_failed"
                updates.append(StatusUpdate(str(item["id"]), "failed", error_code=error_code, at=at))
            # `sent` (and anything newer) changes nothing: the send's own answer already said so.
        return updates

    @staticmethod
    def inbound_messages(value: dict[str, Any]) -> list[InboundMessage]:
        contacts = value.get("contacts")
        names = {
            str(c.get("wa_id")): str(_object(c.get("profile")).get("name") or "")
            for c in (contacts if isinstance(contacts, list) else [])
            if isinstance(c, dict)
        }
        metadata = _object(value.get("metadata"))
        ours = str(metadata.get("display_phone_number") or metadata.get("phone_number_id") or "")
        inbound = []
        messages = value.get("messages")
        for item in messages if isinstance(messages, list) else []:
            if not isinstance(item, dict):
                continue
            sender = _digits(str(item.get("from") or ""))
            text = inbound_text(item)
            if not sender or text is None:
                continue
            inbound.append(
                InboundMessage(
                    urn=f"whatsapp:+{sender}",
                    text=text,
                    provider_message_id=str(item.get("id") or ""),
                    to=ours,
                    first_name=names.get(sender, ""),
                    received_at=utc_from_timestamp(item.get("timestamp")),
                )
            )
        return inbound


def inbound_text(message: dict[str, Any]) -> str | None:
    """What the contact wrote: text, a quick-reply button, an interactive reply's title, a media caption.

    Other kinds (audio, sticker, location, shared contacts, an order) are still replies, with empty
    text; reactions, system notices and unsupported messages are nothing a contact wrote: None.
    """
    kind = message.get("type")
    if kind in SKIPPED_INBOUND_TYPES:
        return None
    body = _object(message.get(kind) if isinstance(kind, str) else None)
    if kind == "text":
        return str(body.get("body") or "")
    if kind == "button":
        return str(body.get("text") or "")
    if kind == "interactive":
        reply = _object(body.get(str(body.get("type"))))  # button_reply, list_reply: {id, title}
        return str(reply.get("title") or "")
    return str(body.get("caption") or "")
