"""Non-API endpoints of accounts: the health check and the Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import cast

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from .api.errors import error_body
from .metrics import exposition
from .net import client_ip, ip_in_networks
from .selectors import broker_queue_lengths, health_report

# When this process began serving: beat never seen is a problem only once it had time to start.
SERVING_SINCE = timezone.now()


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when healthy; 503 naming each problem (SPEC §2): the database, the broker (reached, each
    queue's length read), beat, a queue without a consumer, a due message or webhook delivery waiting
    for over HEALTH_MAX_AGE seconds."""
    body: dict[str, object] = {
        "status": "ok",
        "database": "ok",
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "redis": bool(settings.REDIS_URL),
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means the database is not usable
        body.update(database="unavailable", beat_last_seen=None, problems=["database: unavailable"])
    else:
        try:
            body.update(health_report(serving_since=SERVING_SINCE).as_dict())
        except DatabaseError as exc:  # e.g. not migrated yet
            body.update(beat_last_seen=None, problems=[f"database: {type(exc).__name__}"])
    broker: list[str] = []
    try:
        body["queue_lengths"] = broker_queue_lengths()
    except Exception as exc:  # noqa: BLE001 - any failure means the broker is not usable
        body["queue_lengths"] = None
        broker = [f"broker: unavailable ({type(exc).__name__})"]
    body["problems"] = [*cast(list[str], body.get("problems") or []), *broker]
    problems = body.get("problems")
    if problems:
        body["status"] = "degraded"
    return JsonResponse(body, status=503 if problems else 200)


def _metrics_refusal(request: HttpRequest) -> JsonResponse | None:
    """None when the caller may read /metrics: its address is in METRICS_ALLOW (read as the API reads
    it: X-Forwarded-For only from TRUSTED_PROXIES), or it presents METRICS_TOKEN as a bearer token
    (compared in constant time). Otherwise 401 without a token, 403 with a wrong one or none possible."""
    meta = request.META
    address = client_ip(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"), settings.TRUSTED_PROXIES)
    if ip_in_networks(address, settings.METRICS_ALLOW):
        return None
    header = meta.get("HTTP_AUTHORIZATION", "")
    scheme, _, presented = header.partition(" ")
    token = settings.METRICS_TOKEN
    if token and scheme.lower() == "bearer" and presented.strip():
        if hmac.compare_digest(presented.strip().encode(), token.encode()):
            return None
        return JsonResponse(
            error_body("permission_error", "invalid_metrics_token", "This token does not open /metrics."), status=403
        )
    if token and not header:
        response = JsonResponse(
            error_body("authentication_error", "not_authenticated", "Send Authorization: Bearer <METRICS_TOKEN>."),
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return JsonResponse(
        error_body("permission_error", "metrics_not_allowed", "This address may not read /metrics (METRICS_ALLOW)."),
        status=403,
    )


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (SPEC §2, accounts/metrics.py): every process's counters summed, and the
    gauges read from the database and the broker for this scrape."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            error_body("invalid_request_error", "method_not_allowed", f"{request.method} is not allowed: use GET."),
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    readers = {name: import_string(path) for name, path in settings.METRICS_FACTS.items()}
    return HttpResponse(exposition(readers, timezone.now()), content_type=CONTENT_TYPE_LATEST)
