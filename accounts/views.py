"""Non-API endpoints of accounts: the health check."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from .selectors import health_report

# When this process began serving: beat never seen is a problem only once it had time to start.
SERVING_SINCE = timezone.now()


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when healthy; 503 naming each problem (SPEC §2): the database, beat, a queue without a
    consumer, a due message or webhook delivery waiting for over HEALTH_MAX_AGE seconds."""
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
    problems = body.get("problems")
    if problems:
        body["status"] = "degraded"
    return JsonResponse(body, status=503 if problems else 200)
