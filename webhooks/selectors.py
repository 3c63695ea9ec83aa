"""Reads of webhooks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import Client

from .delivery import NOT_SENT
from .events import ALL
from .formats import events_of
from .models import WebhookDelivery, WebhookEndpoint

D = WebhookDelivery.Status


def endpoint_queryset(*, client: Client) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(client=client)


def delivery_queryset(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """Every attempt to this endpoint, newest first (the list's cursor orders it)."""
    return WebhookDelivery.objects.filter(endpoint=endpoint)


def event_types_wanted(*, client_id: uuid.UUID | str) -> frozenset[str]:
    """The event types some active endpoint of the client subscribes to (one query): callers build
    an event's data only when someone wants it."""
    wanted: set[str] = set()
    for subscribed, format in WebhookEndpoint.objects.filter(client_id=client_id, active=True).values_list(
        "events", "format"
    ):
        wanted.update(events_of(format) if ALL in subscribed else subscribed)
    return frozenset(wanted)


def delivery_oldest_due_at(*, now: datetime) -> datetime | None:
    """Since when the oldest due attempt has waited for a worker (/healthz; a retry counts from its
    retry time, so an endpoint that keeps failing is not a backlog): the first entry of the partial
    index webhook_delivery_due_idx. None when nothing is due."""
    first = (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first()
    )
    return first if first is not None and first <= now else None


UNDELIVERED_COUNTED = 100_000  # a backlog is counted up to this (each status): a scrape's cost stays bounded
# One count per status, so each reads its own partial index (a `status IN (...)` matches neither).
UNDELIVERED_SQL = """
SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM webhooks_webhookdelivery WHERE status = 'pending' LIMIT %(cap)s) p)
     + (SELECT COUNT(*) FROM (SELECT 1 FROM webhooks_webhookdelivery WHERE status = 'sending' LIMIT %(cap)s) s)
"""


def metrics_facts(*, now: datetime) -> dict[str, object]:
    """/metrics' readings of webhooks (accounts.metrics.FACTS): deliveries not delivered yet, pending
    or sending, counted up to UNDELIVERED_COUNTED (their partial indexes, webhook_delivery_due_idx
    and webhook_delivery_lease_idx), and how long the oldest due one has waited (/healthz's)."""
    with connection.cursor() as cursor:
        cursor.execute(UNDELIVERED_SQL, {"cap": UNDELIVERED_COUNTED})
        (undelivered,) = cursor.fetchone()
    since = delivery_oldest_due_at(now=now)
    return {
        "herald_webhook_deliveries_undelivered": undelivered,
        "herald_webhook_undelivered_oldest_age_seconds": max(0.0, (now - since).total_seconds()) if since else 0.0,
    }


# --- an endpoint's health ---------------------------------------------------------------------------

FAILURES_COUNTED = 10_000  # failures in a row are counted up to this: a page's cost does not grow with them
_DAWN = datetime.fromisoformat("0001-01-01T00:00:00+00:00")  # "since the last success" when there was none


class _CountOf(Subquery):
    """The number of rows the (limited) subquery returns."""

    template = "(SELECT count(*) FROM (%(subquery)s) AS _counted)"
    output_field = IntegerField()


@dataclass(frozen=True)
class EndpointHealth:
    """How an endpoint's deliveries go. `state`: `disabled` (`disabled_reason` says why), `failing`
    (an attempt failed since its last success, or it never succeeded), `healthy`, or `no_deliveries`
    (no attempt made yet). Attempts not sent (`endpoint_disabled`, `not_in_format`) do not count, as
    for the 3-day disabling (delivery.NOT_SENT)."""

    HEALTHY = "healthy"
    FAILING = "failing"
    DISABLED = "disabled"
    NO_DELIVERIES = "no_deliveries"
    LABELS = {HEALTHY: "Healthy", FAILING: "Failing", DISABLED: "Disabled", NO_DELIVERIES: "No deliveries yet"}

    endpoint: WebhookEndpoint
    state: str
    last_success_at: datetime | None  # its newest successful attempt
    consecutive_failures: int  # failed attempts since then (all of them if none succeeded), up to FAILURES_COUNTED
    failures_capped: bool  # there were more than FAILURES_COUNTED
    next_retry_at: datetime | None  # when its first waiting retry goes (None: no retry waiting)
    last_error: str  # the newest of those failures' error ("" when none failed since the last success)
    disabled_reason: str

    @property
    def label(self) -> str:
        return self.LABELS[self.state]


def endpoint_health_queryset(*, client: Client) -> QuerySet[WebhookEndpoint]:
    """The client's endpoints, newest first, each annotated with its health's figures: one query for
    all of them, each figure an index probe or a bounded range (webhook_delivery_outcome_idx,
    webhook_delivery_waiting_idx). Read each with `endpoint_health`."""
    attempts = WebhookDelivery.objects.filter(endpoint=OuterRef("pk")).order_by()
    last_success = attempts.filter(status=D.SUCCEEDED, attempted_at__isnull=False).order_by("-attempted_at")
    streak = (
        attempts.filter(status=D.FAILED)
        .exclude(error__in=NOT_SENT)
        .filter(attempted_at__gt=Coalesce(OuterRef("health_last_success_at"), Value(_DAWN)))
    )
    waiting = attempts.filter(status=D.PENDING, attempt__gt=1).order_by("scheduled_at")
    return (
        endpoint_queryset(client=client)
        .order_by("-created_at", "-pk")
        .annotate(health_last_success_at=Subquery(last_success.values("attempted_at")[:1]))
        .annotate(
            health_failures=_CountOf(streak.values("pk")[: FAILURES_COUNTED + 1]),
            health_last_error=Subquery(streak.order_by("-attempted_at").values("error")[:1]),
            health_next_retry_at=Subquery(waiting.values("scheduled_at")[:1]),
        )
    )


def endpoint_health(endpoint: WebhookEndpoint) -> EndpointHealth:
    """The health of an endpoint read by endpoint_health_queryset (no query)."""
    last_success_at: datetime | None = getattr(endpoint, "health_last_success_at")  # noqa: B009 - an annotation
    counted: int = getattr(endpoint, "health_failures")  # noqa: B009
    if not endpoint.active:
        state = EndpointHealth.DISABLED
    elif counted:
        state = EndpointHealth.FAILING
    elif last_success_at is not None:
        state = EndpointHealth.HEALTHY
    else:
        state = EndpointHealth.NO_DELIVERIES
    return EndpointHealth(
        endpoint=endpoint,
        state=state,
        last_success_at=last_success_at,
        consecutive_failures=min(counted, FAILURES_COUNTED),
        failures_capped=counted > FAILURES_COUNTED,
        next_retry_at=getattr(endpoint, "health_next_retry_at"),  # noqa: B009
        last_error=getattr(endpoint, "health_last_error") or "",  # noqa: B009
        disabled_reason=endpoint.disabled_reason if not endpoint.active else "",
    )


def endpoint_health_list(*, client: Client) -> list[EndpointHealth]:
    """Every endpoint of the client with its health, newest first (one query)."""
    return [endpoint_health(endpoint) for endpoint in endpoint_health_queryset(client=client)]
