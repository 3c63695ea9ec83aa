"""Per-client rate limits: SEND_RATE_LIMIT on broadcast create/send, API_RATE_LIMIT on the rest."""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import Client
from accounts.ratelimit import Rate, get_limiter, parse_rate

from .principal import Principal

log = structlog.get_logger(__name__)

SEND = "send"
API = "api"


def client_rate(client: Client, scope: str) -> Rate:
    """The client's own limit, else the setting. A stored value that cannot be read (saved before the
    field was validated, or written by hand) counts as unset: the default applies, never no limit."""
    own, default = (
        (client.send_rate_limit, settings.SEND_RATE_LIMIT)
        if scope == SEND
        else (client.api_rate_limit, settings.API_RATE_LIMIT)
    )
    if own:
        try:
            return parse_rate(own)
        except ValueError:
            log.warning("ratelimit.invalid_client_rate", client_id=str(client.pk), scope=scope)
    try:
        return parse_rate(default)
    except ValueError as exc:
        setting = "SEND_RATE_LIMIT" if scope == SEND else "API_RATE_LIMIT"
        raise ImproperlyConfigured(f"{setting}: {exc}") from None


class ClientRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, Principal):
            return True
        scope = view.get_throttle_scope(request) if hasattr(view, "get_throttle_scope") else API
        client = principal.client
        rate = client_rate(client, scope)  # outside the try: a bad setting must fail closed, not open
        try:
            decision = get_limiter().hit(f"{scope}:{client.pk}", rate)
        except Exception:  # a rate limiter outage must not take the API down with it
            log.exception("ratelimit.unavailable", client_id=str(client.pk), scope=scope)
            return True
        self._wait = decision.retry_after
        if not decision.allowed:
            log.info("ratelimit.exceeded", client_id=str(client.pk), scope=scope, retry_after=decision.retry_after)
        return decision.allowed

    def wait(self) -> float | None:
        return self._wait
