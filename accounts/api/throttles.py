"""Per-client rate limits: SEND_RATE_LIMIT on broadcast create/send, API_RATE_LIMIT on the rest."""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import Client
from accounts.ratelimit import Rate, get_limiter, parse_rate

from .principal import Principal

log = structlog.get_logger(__name__)

SEND = "send"
API = "api"


def client_rate(client: Client, scope: str) -> Rate:
    if scope == SEND:
        return parse_rate(client.send_rate_limit or settings.SEND_RATE_LIMIT)
    return parse_rate(client.api_rate_limit or settings.API_RATE_LIMIT)


class ClientRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, Principal):
            return True
        scope = view.get_throttle_scope(request) if hasattr(view, "get_throttle_scope") else API
        client = principal.client
        try:
            decision = get_limiter().hit(f"{scope}:{client.pk}", client_rate(client, scope))
        except Exception:  # a rate limiter outage must not take the API down with it
            log.exception("ratelimit.unavailable", client_id=str(client.pk), scope=scope)
            return True
        self._wait = decision.retry_after
        if not decision.allowed:
            log.info("ratelimit.exceeded", client_id=str(client.pk), scope=scope, retry_after=decision.retry_after)
        return decision.allowed

    def wait(self) -> float | None:
        return self._wait
