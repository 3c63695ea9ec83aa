"""Non-API endpoints of accounts: the health check."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .selectors import heartbeat_last
from .tasks import BEAT_HEARTBEAT


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means the database is not usable
        database = "unavailable"
    beat = heartbeat_last(name=BEAT_HEARTBEAT) if database == "ok" else None
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "redis": bool(settings.REDIS_URL),
        "beat_last_seen": beat.isoformat() if beat else None,
    }
    return JsonResponse(body, status=200 if database == "ok" else 503)
