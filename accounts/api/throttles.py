"""Per-client rate limits: SEND_RATE_LIMIT on broadcast create/send, COMPAT_SEND_RATE_LIMIT on
broadcast creates through the compatibility APIs (SPEC §14), API_RATE_LIMIT on the rest.

What counts: a hit is taken before the view runs (so concurrent requests cannot overshoot) and
given back after the response when the request turned out not to count: an idempotent replay
(nothing ran) on any limit, and on the send limits any refusal (4xx: a 400, 402, 404, 409; nothing
was sent). API_RATE_LIMIT keeps counting refusals: it is the guard against a client hammering the
API, and a loop of bad requests is exactly what it is for. A 429 never took a hit.
"""

from __future__ import annotations

from dataclasses import dataclass
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
COMPAT_SEND = "compat_send"  # broadcast creates through the compatibility APIs (SPEC §14)
# Limits whose refusals (a 4xx: nothing was sent) are given back: they count sends, not requests.
SEND_SCOPES = frozenset({SEND, COMPAT_SEND})
_SETTINGS = {SEND: "SEND_RATE_LIMIT", API: "API_RATE_LIMIT", COMPAT_SEND: "COMPAT_SEND_RATE_LIMIT"}
_HIT = "_herald_rate_hit"  # where an allowed request keeps its hit, on the DRF request


@dataclass(frozen=True)
class _Hit:
    scope: str
    key: str
    token: str


def client_rate(client: Client, scope: str) -> Rate:
    """The client's own limit, else the setting. A stored value that cannot be read (saved before the
    field was validated, or written by hand) counts as unset: the default applies, never no limit."""
    setting = _SETTINGS[scope]
    own = {SEND: client.send_rate_limit, API: client.api_rate_limit, COMPAT_SEND: client.compat_send_rate_limit}[scope]
    default = getattr(settings, setting)
    if own:
        try:
            return parse_rate(own)
        except ValueError:
            log.warning("ratelimit.invalid_client_rate", client_id=str(client.pk), scope=scope)
    try:
        return parse_rate(default)
    except ValueError as exc:
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
        elif decision.token:
            setattr(request, _HIT, _Hit(scope=scope, key=f"{scope}:{client.pk}", token=decision.token))
        return decision.allowed

    def wait(self) -> float | None:
        return self._wait


def rate_limit_settle(request: Request, *, status_code: int, replayed: bool) -> None:
    """After the response: give the request's hit back if it turned out not to count (module docstring)."""
    hit: _Hit | None = getattr(request, _HIT, None)
    if hit is None:
        return
    refused = 400 <= status_code < 500 and status_code != 429
    if not (replayed or (hit.scope in SEND_SCOPES and refused)):
        return
    setattr(request, _HIT, None)
    try:
        get_limiter().give_back(hit.key, hit.token)
    except Exception:  # the request already ran; a limiter outage only means it stays counted
        log.exception("ratelimit.give_back_failed", scope=hit.scope)
