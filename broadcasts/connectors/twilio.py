"""Twilio Programmable Messaging: SMS (and WhatsApp through Twilio) over Twilio's REST API.

Send: `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, form-encoded `To`, `From`
(or `MessagingServiceSid` when the connector has one), `Body`, `StatusCallback` and one `MediaUrl`
per attachment, with HTTP basic auth `account_sid:auth_token`. A 2xx answer's `sid` is the provider
id; 429 and 5xx are transient (Retry-After honoured); any other answer is permanent with
`twilio_<code>` from the error body (21610: the recipient replied STOP, so they are opted out too).

Callbacks are form posts signed as Twilio documents: `X-Twilio-Signature` is the base64
HMAC-SHA1, keyed by the auth token, of the URL Twilio called followed by every POST parameter
sorted by name, each name then its value. Which kind a post is comes from its fields, whichever of
our two URLs it arrived on: a `MessageStatus` is a delivery report, a `Body` without one is an
incoming message (answered with an empty TwiML document, so Twilio replies nothing).

This module is named like the `twilio` package on PyPI; it imports nothing from it (the tests use
that package's RequestValidator as the oracle for signatures), and absolute imports keep the two
apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, ClassVar
from urllib.parse import quote, urlparse

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError

from .base import (
    HOOK_INBOUND,
    HookRejected,
    HookResult,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    require_text,
)
from .http import HttpAnswer, HttpCall, HttpConnector, retry_after_seconds

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
OPT_OUT_CODES = frozenset({"21610"})  # "Attempt to send to unsubscribed recipient" (they sent STOP)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
WHATSAPP_PREFIX = "whatsapp:"
# Twilio's delivery statuses that mean something to us; queued, sending, sent, accepted, scheduled
# and the rest change nothing.
REPORT_STATUSES = {"delivered": "delivered", "read": "read", "undelivered": "failed", "failed": "failed"}
# The status an incoming message carries in Twilio's lifecycle: not a report about our message.
INBOUND_STATUS = "received"

KNOWN_KEYS = {"account_sid", "auth_token", "messaging_service_sid", "base_url"}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
# Twilio's error messages quote the numbers involved; error messages are stored and shown, numbers
# must not be.
_NUMBER = re.compile(r"\+?\d[\d ().-]{4,}\d")


class TwilioConnector(HttpConnector):
    backend = "twilio"
    idempotent = False  # Twilio does not dedupe message creation: a resend reaches the recipient twice
    secret_keys: ClassVar[frozenset[str]] = frozenset({"auth_token"})

    # --- configuration -------------------------------------------------------------------------

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = super().validate_config(config)
        errors: dict[str, list[str]] = {}
        for key in sorted(set(config) - KNOWN_KEYS):
            errors[f"config.{key}"] = [f"Unknown twilio setting; known: {', '.join(sorted(KNOWN_KEYS))}."]

        def text(key: str, *, required: bool, default: str = "") -> str:
            try:
                value = require_text(config, key, required=required, default=default)
            except ValidationError as exc:
                errors.update(exc.message_dict)
                return ""
            if required and not value:
                errors[f"config.{key}"] = [f"{key} is required."]
            return value

        account_sid = text("account_sid", required=True)
        if account_sid and not re.fullmatch(r"AC[0-9A-Za-z]+", account_sid):
            errors["config.account_sid"] = ["account_sid must be the Account SID (AC…) from the Twilio console."]
        auth_token = text("auth_token", required=True)
        service_sid = text("messaging_service_sid", required=False)
        if service_sid and not re.fullmatch(r"MG[0-9A-Za-z]+", service_sid):
            errors["config.messaging_service_sid"] = ["messaging_service_sid must be a Messaging Service SID (MG…)."]
        base_url = text("base_url", required=False, default=DEFAULT_BASE_URL).rstrip("/") or DEFAULT_BASE_URL
        parsed = urlparse(base_url)
        if "config.base_url" not in errors and (
            parsed.scheme not in {"http", "https"} or not parsed.netloc or parsed.query or parsed.fragment
        ):
            errors["config.base_url"] = ["base_url must be an http(s) URL such as https://api.twilio.com."]
        if errors:
            raise ValidationError(errors)
        return {
            "account_sid": account_sid,
            "auth_token": auth_token,
            "messaging_service_sid": service_sid,
            "base_url": base_url,
        }

    @property
    def account_sid(self) -> str:
        return str(self.config.get("account_sid") or "")

    @property
    def auth_token(self) -> str:
        return str(self.config.get("auth_token") or "")

    @property
    def messages_url(self) -> str:
        base_url = str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        return f"{base_url}/{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}/Messages.json"

    # --- sending -------------------------------------------------------------------------------

    def _address(self, value: str) -> str:
        """Twilio addresses WhatsApp numbers as `whatsapp:+…`; SMS numbers are plain E.164."""
        if self.channel == "whatsapp" and value and not value.startswith(WHATSAPP_PREFIX):
            return f"{WHATSAPP_PREFIX}{value}"
        return value

    def call_for(self, message: OutboundMessage) -> HttpCall:
        # A dict keeps the wire order; a list value repeats the name on the wire (one MediaUrl each).
        data: dict[str, str | list[str]] = {"To": self._address(message.to)}
        service_sid = str(self.config.get("messaging_service_sid") or "")
        if service_sid:
            data["MessagingServiceSid"] = service_sid
        else:
            data["From"] = self._address(message.sender)
        data["Body"] = message.text
        if message.status_url:
            data["StatusCallback"] = message.status_url
        if message.attachments:
            data["MediaUrl"] = list(message.attachments)
        return HttpCall(
            "POST",
            self.messages_url,
            headers={"Accept": "application/json"},
            data=data,
            auth=(self.account_sid, self.auth_token),
        )

    def result_for(self, message: OutboundMessage, answer: HttpAnswer) -> SendResult:
        body = answer.json()
        body = body if isinstance(body, dict) else {}
        if answer.ok:
            sid = body.get("sid")
            if isinstance(sid, str) and sid:
                return SendResult(message.id, True, provider_message_id=sid)
            # Twilio always names what it created; should it not, the message was still taken, so it
            # is not failed (a refund and a retry could reach the recipient twice): it stays `sent`,
            # with no report to match.
            return SendResult(message.id, True, provider_message_id=None)
        code = _error_code(body.get("code"))
        error_code = f"twilio_{code}" if code else f"twilio_http_{answer.status}"
        raw_message = body.get("message")
        detail = _NUMBER.sub("<number>", raw_message)[:200] if isinstance(raw_message, str) else ""
        error_message = f"HTTP {answer.status}" + (f": {detail}" if detail else "")
        if answer.status == 429 or answer.status >= 500:
            return SendResult(
                message.id,
                False,
                transient=True,
                error_code=error_code,
                error_message=error_message,
                retry_after=retry_after_seconds(answer.headers),
            )
        return SendResult(
            message.id,
            False,
            error_code=error_code,
            error_message=error_message,
            opt_out=code in OPT_OUT_CODES,
        )

    # --- callbacks -----------------------------------------------------------------------------

    def expected_signature(self, url: str, params: QueryDict | dict[str, Any]) -> str:
        """Twilio's signature of a form post to `url`: base64 HMAC-SHA1(auth token, url + params).

        Names sorted (case-sensitive, as Twilio documents), each followed by its value; a repeated
        name contributes each distinct value in sorted order, as Twilio's own validator does.
        """
        payload = url
        for name in sorted(set(params)):
            values = params.getlist(name) if isinstance(params, QueryDict) else [params[name]]
            for value in sorted({str(v) for v in values}):
                payload += name + value
        digest = hmac.new(self.auth_token.encode(), payload.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def authenticate(self, request: HttpRequest, public_url: str) -> QueryDict:
        if request.method != "POST" or request.content_type not in FORM_TYPES:
            raise HookRejected(403, "Twilio callbacks are signed form posts.")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or not self.auth_token:
            raise HookRejected(403, f"Missing {SIGNATURE_HEADER}.")
        try:
            params = request.POST
        except MultiPartParserError:
            raise HookRejected(403, "Twilio callbacks are signed form posts.") from None
        given = signature.strip().encode()
        # Twilio signs the URL as it called it, with or without the default port depending on the
        # product; its validator accepts either, so do we.
        matches = [
            hmac.compare_digest(self.expected_signature(url, params).encode(), given)
            for url in _url_variants(public_url)
        ]
        if not any(matches):
            raise HookRejected(403, f"Invalid {SIGNATURE_HEADER}.")
        return params

    def handle_hook(self, request: HttpRequest, *, kind: str, public_url: str) -> HookResult:
        params = self.authenticate(request, public_url)
        result = HookResult()
        status = params.get("MessageStatus") or ""
        if status and status != INBOUND_STATUS:
            mapped = REPORT_STATUSES.get(status)
            sid = params.get("MessageSid") or ""
            if mapped and sid:
                error = params.get("ErrorCode") or ""
                error_code = f"twilio_{error}" if mapped == "failed" and error else ""
                result.updates.append(StatusUpdate(sid, mapped, error_code=error_code))
        elif "Body" in params:
            sender = (params.get("From") or "").strip()
            if sender:
                result.inbound.append(
                    InboundMessage(
                        urn=sender if sender.startswith(WHATSAPP_PREFIX) else f"tel:{sender}",
                        text=params.get("Body") or "",
                        provider_message_id=params.get("MessageSid") or "",
                        to=params.get("To") or "",
                    )
                )
        if result.inbound or kind == HOOK_INBOUND:
            # Twilio reads the answer to an incoming message as TwiML: an empty one sends no reply.
            result.response = HttpResponse(EMPTY_TWIML, content_type="text/xml")
        return result


def _error_code(value: Any) -> str:
    """Twilio's numeric error code as text; "" when the body has none we can trust."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9A-Za-z_]{1,16}", value):
        return value
    return ""


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port (Twilio signs either)."""
    variants = [url]
    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError:
        return variants
    host = parsed.netloc.rsplit("@", 1)[-1]
    if port:
        host_only = host.rsplit(":", 1)[0]
        variants.append(parsed._replace(netloc=host_only).geturl())
    elif parsed.scheme in {"http", "https"} and host:
        default = 443 if parsed.scheme == "https" else 80
        variants.append(parsed._replace(netloc=f"{host}:{default}").geturl())
    return variants
