"""Writes of webhooks: endpoints, and recording events (the outbox) for other apps to call.

Other apps record their events with `events_record` (many) or `event_record` (one), inside the
transaction of the change the event announces: the rows commit or roll back with it, and delivery
is scheduled only after the commit. See docs/webhooks.md, "Emitting events".
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.exceptions import ConflictError
from accounts.models import Client

from . import tasks
from .addresses import url_problem
from .events import ALL, EVENT_TYPES, RECORDABLE, WEBHOOK_TEST, new_event_id, wants
from .formats import events_of, supports
from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent

log = structlog.get_logger(__name__)

D = WebhookDelivery.Status
SECRET_BYTES = 32
MANUAL_DISABLE_REASON = "Disabled by request."
CANCELLED_ERROR = "endpoint_disabled"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


# --- endpoints --------------------------------------------------------------------------------------


def clean_url(url: str) -> str:
    url = (url or "").strip()
    problem = url_problem(url)
    if problem:
        raise ValidationError({"url": [problem]}, code="invalid_url")
    return url


def clean_format(format: str) -> str:
    value = str(format or "").strip()
    if value not in WebhookEndpoint.Format.values:
        raise ValidationError(
            {"format": [f"Unknown format {value!r}; the formats are: {', '.join(WebhookEndpoint.Format.values)}."]},
            code="invalid_format",
        )
    return value


def clean_events(events: Iterable[str], format: str = WebhookEndpoint.Format.STANDARD) -> list[str]:
    """The events list, checked; an endpoint of a compatibility format (SPEC §14) may name only the
    events that format has a shape for (`["*"]` means those)."""
    names = list(dict.fromkeys(str(e).strip() for e in events))
    if not names:
        raise ValidationError({"events": ['Name at least one event, or ["*"] for all.']}, code="required")
    if ALL in names:
        if len(names) > 1:
            raise ValidationError({"events": ['"*" (all events) stands alone.']}, code="invalid_events")
        return [ALL]
    unknown = [n for n in names if n not in EVENT_TYPES]
    if unknown:
        known = ", ".join(EVENT_TYPES)
        raise ValidationError(
            {"events": [f"Unknown event {unknown[0]!r}; the events are: {known} (or * for all)."]},
            code="unknown_event",
        )
    shaped = events_of(format)
    outside = [n for n in names if n not in shaped]
    if outside:
        allowed = ", ".join(n for n in EVENT_TYPES if n in shaped)
        raise ValidationError(
            {"events": [f"The {format} format has no shape for {outside[0]!r}; it sends: {allowed} (or * for all)."]},
            code="event_not_in_format",
        )
    return names


def webhook_endpoint_create(
    *, client: Client, url: str, events: Iterable[str], format: str = WebhookEndpoint.Format.STANDARD
) -> WebhookEndpoint:
    """A new active endpoint; its `secret` attribute holds the plain secret, to be shown this once."""
    format = clean_format(format)
    endpoint = WebhookEndpoint(
        client=client, url=clean_url(url), events=clean_events(events, format), format=format, secret=new_secret()
    )
    endpoint.save()
    log.info("webhooks.endpoint_created", client_id=str(client.pk), endpoint_id=str(endpoint.pk))
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, data: Mapping[str, Any]) -> WebhookEndpoint:
    """Change url, events, format and/or active. `active: true` re-enables and clears `disabled_reason`.
    A new format is checked against the events (the new ones, else the endpoint's)."""
    fields: list[str] = []
    if "url" in data:
        endpoint.url = clean_url(data["url"])
        fields.append("url")
    if "format" in data:
        endpoint.format = clean_format(data["format"])
        fields.append("format")
    if "events" in data or "format" in data:
        endpoint.events = clean_events(data.get("events", endpoint.events), endpoint.format)
        fields.append("events")
    with transaction.atomic():
        if fields:
            endpoint.save(update_fields=[*fields, "updated_at"])
        if "active" in data:
            if data["active"]:
                webhook_endpoint_enable(endpoint=endpoint)
            elif endpoint.active:
                webhook_endpoint_disable(endpoint=endpoint, reason=MANUAL_DISABLE_REASON)
    return endpoint


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.active, endpoint.disabled_reason, endpoint.failing_since = True, "", None
    endpoint.save(update_fields=["active", "disabled_reason", "failing_since", "updated_at"])
    log.info("webhooks.endpoint_enabled", endpoint_id=str(endpoint.pk))
    return endpoint


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> WebhookEndpoint:
    """Stop delivering to the endpoint; its attempts still waiting are cancelled (failed, `endpoint_disabled`)."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=False, disabled_reason=reason[:500], updated_at=timezone.now()
        )
        cancelled = WebhookDelivery.objects.filter(endpoint=endpoint, status=D.PENDING).update(
            status=D.FAILED, error=CANCELLED_ERROR, next_retry_at=None
        )
    endpoint.refresh_from_db(fields=["active", "disabled_reason", "updated_at"])
    log.info("webhooks.endpoint_disabled", endpoint_id=str(endpoint.pk), cancelled=cancelled)
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret, in force at once (attempts not yet sent are signed with it); shown this once."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    log.info("webhooks.secret_rotated", endpoint_id=str(endpoint.pk))
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint_id = str(endpoint.pk)
    endpoint.delete()
    log.info("webhooks.endpoint_deleted", endpoint_id=endpoint_id)


# --- events (the outbox) ----------------------------------------------------------------------------


def _schedule_delivery() -> None:
    tasks.deliver.delay()


def _insert(*, client_id: Any, type: str, items: list[Mapping[str, Any]], endpoint_ids: list[uuid.UUID]) -> list[str]:
    """One INSERT of the events and one INSERT … SELECT of their first attempts, whatever their number."""
    now = timezone.now()
    ids = [new_event_id() for _ in items]
    payloads = [json.dumps(item, cls=DjangoJSONEncoder, separators=(",", ":")) for item in items]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_webhookevent (id, client_id, type, created_at, data)"
            " SELECT e.id, %s, %s, %s, e.data FROM unnest(%s::text[], %s::jsonb[]) AS e(id, data)",
            [str(client_id), type, now, ids, payloads],
        )
        cursor.execute(
            "INSERT INTO webhooks_webhookdelivery (endpoint_id, event_id, event_type, attempt, status, scheduled_at,"
            " response_body, error, created_at)"
            " SELECT ep, ev, %s, 1, %s, %s, '', '', %s"
            " FROM unnest(%s::text[]) AS ev CROSS JOIN unnest(%s::uuid[]) AS ep",
            [type, D.PENDING, now, now, ids, endpoint_ids],
        )
    transaction.on_commit(_schedule_delivery)
    return ids


def events_record(*, client_id: uuid.UUID | str, type: str, items: list[Mapping[str, Any]]) -> int:
    """Record one event of `type` per item (each item is the event's `data`), for the client's
    active endpoints that subscribe to `type`, inside the caller's transaction; delivery starts after
    the commit. Returns how many events were recorded: 0 when no endpoint wants them (nothing is
    written). Three queries whatever the number of items."""
    if type not in RECORDABLE or type == WEBHOOK_TEST:
        raise ValueError(f"Unknown webhook event type {type!r}.")
    if not items:
        return 0
    endpoints = WebhookEndpoint.objects.filter(client_id=client_id, active=True).values_list("id", "events", "format")
    endpoint_ids = [pk for pk, subscribed, format in endpoints if wants(subscribed, type) and supports(format, type)]
    if not endpoint_ids:
        return 0
    return len(_insert(client_id=client_id, type=type, items=items, endpoint_ids=endpoint_ids))


def event_record(*, client_id: uuid.UUID | str, type: str, data: Mapping[str, Any]) -> int:
    """One event: `events_record` with one item."""
    return events_record(client_id=client_id, type=type, items=[data])


def webhook_test_send(*, endpoint: WebhookEndpoint) -> WebhookEvent:
    """A `webhook.test` event for this endpoint alone, sent after the commit."""
    if not endpoint.active:
        raise ConflictError("The endpoint is disabled; enable it (active: true) before testing it.")
    data = {"endpoint_id": str(endpoint.pk), "message": "A test event from Herald."}
    with transaction.atomic():
        (event_id,) = _insert(client_id=endpoint.client_id, type=WEBHOOK_TEST, items=[data], endpoint_ids=[endpoint.pk])
    return WebhookEvent.objects.get(pk=event_id)


def webhook_deliveries_retry_now(*, deliveries: Iterable[WebhookDelivery], now: datetime | None = None) -> int:
    """Admin's "retry now": for each failed attempt, its waiting retry is moved to now, or (retries
    exhausted or cancelled) a new attempt is scheduled now. Disabled endpoints are skipped."""
    now = now or timezone.now()
    done = 0
    with transaction.atomic():
        for delivery in deliveries:
            if delivery.status != D.FAILED or not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, active=True):
                continue
            pair = WebhookDelivery.objects.filter(endpoint_id=delivery.endpoint_id, event_id=delivery.event_id)
            waiting = pair.filter(status__in=[D.PENDING, D.SENDING])
            if waiting.exists():  # a retry is already scheduled (or in flight): bring it forward
                waiting.filter(status=D.PENDING).update(scheduled_at=now)
                done += 1
                continue
            last = pair.aggregate(last=Max("attempt"))["last"] or 0
            WebhookDelivery.objects.create(
                endpoint_id=delivery.endpoint_id,
                event_id=delivery.event_id,
                event_type=delivery.event_type,
                attempt=last + 1,
                scheduled_at=now,
            )
            done += 1
        if done:
            transaction.on_commit(_schedule_delivery)
    return done
