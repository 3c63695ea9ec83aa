"""Reads of webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Client

from .events import ALL
from .formats import events_of
from .models import WebhookDelivery, WebhookEndpoint


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
