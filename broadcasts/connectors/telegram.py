"""Telegram Bot API: `sendMessage` out, webhook updates in.

Config: `bot_token` (BotFather's token, secret), `secret_token` (what Telegram sends back in
`X-Telegram-Bot-Api-Secret-Token` on every update, secret) and `base_url` (https://api.telegram.org).

Sending: `POST {base_url}/bot{bot_token}/sendMessage` with `{"chat_id", "text"}`. An accepted message
is as good as delivered: the Bot API reports nothing later, so the result says `delivered`. 429 (the
body's `parameters.retry_after`, else Retry-After) and 5xx are transient; every other error is
permanent `telegram_<error_code>`, and 403 (the user blocked the bot, or the bot may not write to
them) also opts the contact out.

Callbacks: Telegram sends every update to the one webhook URL, so both hook kinds accept every update.
A `message` with text (or a caption) is an inbound message; `/start` is one too, which lets the hooks
view create the contact of an unknown chat. Edited messages, stickers and photos without a caption,
service messages (a member joined) and every other update type (callback_query, my_chat_member, …)
produce nothing and are acknowledged, so Telegram does not redeliver them.

The bot token is part of every request's URL: it is never put in an error message, and httpx's own
request log line is redacted (see `_RedactBotToken`).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pycountry
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from .base import (
    HookRejected,
    HookResult,
    InboundMessage,
    OutboundMessage,
    SendResult,
    refuse_unknown_keys,
    require_text,
)
from .http import HttpAnswer, HttpCall, HttpConnector, retry_after_seconds, utc_from_timestamp

DEFAULT_BASE_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
URN_SCHEME = "telegram"
KNOWN_KEYS = {"bot_token", "secret_token", "base_url"}

# BotFather's tokens are `<bot id>:<secret>`; the shape also guarantees the token is safe in a URL path.
_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
# What Telegram's setWebhook accepts as secret_token.
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_NUMERIC_CHAT_ID = re.compile(r"-?[0-9]+")
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_].*)?")
_START = re.compile(r"/start(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?", re.DOTALL)
_TOKEN_IN_URL = re.compile(r"/bot[0-9]+:[A-Za-z0-9_-]+")
_MAX_ERROR_MESSAGE = 200


class _RedactBotToken(logging.Filter):
    """A Bot API URL carries the bot token: should an HTTP client log a URL (aiohttp's client
    loggers, at DEBUG), the token is redacted from the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_redact_url(str(a)) if "/bot" in str(a) else a for a in record.args)
        elif isinstance(record.msg, str) and "/bot" in record.msg:
            record.msg = _redact_url(record.msg)
        return True


def _redact_url(text: str) -> str:
    return _TOKEN_IN_URL.sub("/bot[redacted]", text)


def _install_log_redaction() -> None:
    for name in ("aiohttp.client", "aiohttp.internal"):
        client_logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactBotToken) for f in client_logger.filters):
            client_logger.addFilter(_RedactBotToken())


_install_log_redaction()


@lru_cache(maxsize=256)
def iso639_3(language_code: str) -> str:
    """Telegram's `language_code` (an IETF tag: "en", "pt-br") as ISO 639-3 ("eng", "por"), else ""."""
    match = _LANGUAGE_TAG.fullmatch((language_code or "").strip())
    if not match:
        return ""
    primary = match.group(1).lower()
    try:
        found = pycountry.languages.get(**{"alpha_2" if len(primary) == 2 else "alpha_3": primary})
    except (KeyError, LookupError):
        return ""
    return str(getattr(found, "alpha_3", "") or "")


def start_payload(text: str) -> str | None:
    """For `/start`, `/start <payload>` or `/start@BotName <payload>`: the payload ("" when none).

    None when the text is not a /start command. Deep links (t.me/<bot>?start=<payload>) arrive so.
    """
    match = _START.fullmatch((text or "").strip())
    if not match:
        return None
    return (match.group(1) or "").strip()


class TelegramConnector(HttpConnector):
    backend = "telegram"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"bot_token", "secret_token"})

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = super().validate_config(config)
        errors: dict[str, list[str]] = {}

        def check(read: Any) -> Any:  # every bad key is named at once, not only the first
            try:
                return read()
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    errors.setdefault(name, []).extend(messages)
                return None

        check(lambda: refuse_unknown_keys(config, KNOWN_KEYS, cls.backend))
        bot_token = check(lambda: _bot_token(config))
        secret_token = check(lambda: _secret_token(config))
        base_url = check(lambda: _base_url(config))
        if errors:
            raise ValidationError(errors)
        return {"bot_token": bot_token, "secret_token": secret_token, "base_url": base_url}

    # --- sending ---

    @property
    def base_url(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    @property
    def bot_token(self) -> str:
        return str(self.config.get("bot_token") or "").strip()

    def call_for(self, message: OutboundMessage) -> HttpCall:
        chat_id: int | str = int(message.to) if _NUMERIC_CHAT_ID.fullmatch(message.to) else message.to
        # sendMessage takes no attachments; Herald's Telegram messages are text.
        return HttpCall(
            "POST",
            f"{self.base_url}/bot{self.bot_token}/sendMessage",
            headers={"Accept": "application/json"},
            json={"chat_id": chat_id, "text": message.text},
        )

    def result_for(self, message: OutboundMessage, answer: HttpAnswer) -> SendResult:
        body = answer.json()
        body = body if isinstance(body, dict) else {}
        if answer.ok:
            result = body.get("result")
            message_id = result.get("message_id") if isinstance(result, dict) else None
            if body.get("ok") is True and isinstance(message_id, int) and not isinstance(message_id, bool):
                return SendResult(message.id, True, provider_message_id=f"{message.to}:{message_id}", delivered=True)
            # A 2xx that is not an answer Telegram gives: it may have been sent, so never retried.
            return SendResult(
                message.id,
                False,
                error_code="telegram_invalid_response",
                error_message=f"HTTP {answer.status} without ok/result.message_id",
            )
        code = body.get("error_code")
        if not isinstance(code, int) or isinstance(code, bool):
            code = answer.status
        error_code = f"telegram_{code}"
        error_message = self._safe_description(body.get("description"), answer.status)
        if answer.status == 429 or code == 429 or answer.status >= 500:
            return SendResult(
                message.id,
                False,
                transient=True,
                error_code=error_code,
                error_message=error_message,
                retry_after=_retry_after(body, answer),
            )
        return SendResult(
            message.id,
            False,
            error_code=error_code,
            error_message=error_message,
            opt_out=answer.status == 403 or code == 403,
        )

    def _safe_description(self, description: Any, status: int) -> str:
        if not isinstance(description, str) or not description.strip():
            return f"HTTP {status}"
        text = description.strip()[:_MAX_ERROR_MESSAGE]
        token = self.bot_token
        if token:
            text = text.replace(token, "[redacted]")
        return _redact_url(text)

    # --- callbacks ---

    def handle_hook(self, request: HttpRequest, *, kind: str, public_url: str) -> HookResult:
        expected = str(self.config.get("secret_token") or "")
        given = request.headers.get(SECRET_HEADER, "")
        # An empty secret would let anyone in: a connector without one accepts nothing.
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise HookRejected(403, f"Missing or wrong {SECRET_HEADER}.")
        if request.method != "POST":
            raise HookRejected(405, "Telegram posts its updates.")
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise HookRejected(400, "The update is not JSON.") from None
        updates = payload if isinstance(payload, list) else [payload]
        result = HookResult()
        for update in updates:
            inbound = self._inbound(update)
            if inbound is not None:
                result.inbound.append(inbound)
        return result

    def _inbound(self, update: Any) -> InboundMessage | None:
        if not isinstance(update, dict):
            return None
        message = update.get("message")
        if not isinstance(message, dict):
            return None  # edited_message, channel_post, callback_query, my_chat_member, …
        chat = message.get("chat")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            return None
        text = message.get("text")
        if not isinstance(text, str):
            text = message.get("caption")
        if not isinstance(text, str):
            return None  # a sticker, a photo without caption, a service message: nothing to store
        sender = message.get("from")
        sender = sender if isinstance(sender, dict) else {}
        message_id = message.get("message_id")
        return InboundMessage(
            urn=f"{URN_SCHEME}:{chat_id}",
            text=text,
            provider_message_id=f"{chat_id}:{message_id}" if isinstance(message_id, int) else "",
            to=self.bot_token.partition(":")[0],
            first_name=_name(sender.get("first_name")),
            last_name=_name(sender.get("last_name")),
            language=iso639_3(str(sender.get("language_code") or "")),
            received_at=utc_from_timestamp(message.get("date")),
        )


def _name(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _retry_after(body: dict[str, Any], answer: HttpAnswer) -> float | None:
    parameters = body.get("parameters")
    seconds = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        return float(seconds)
    return retry_after_seconds(answer.headers)


def _bot_token(config: dict[str, Any]) -> str:
    token = require_text(config, "bot_token")
    if not _BOT_TOKEN.fullmatch(token):
        # Never echo the value: it is a secret.
        raise ValidationError({"config.bot_token": ["bot_token must be BotFather's token, e.g. 123456789:AAH…"]})
    return token


def _secret_token(config: dict[str, Any]) -> str:
    secret = require_text(config, "secret_token")
    if not _SECRET_TOKEN.fullmatch(secret):
        raise ValidationError(
            {"config.secret_token": ["secret_token must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -."]}
        )
    return secret


def _base_url(config: dict[str, Any]) -> str:
    url = require_text(config, "base_url", required=False, default=DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ValidationError({"config.base_url": ["base_url must be an http(s) URL, e.g. https://api.telegram.org."]})
    return url
