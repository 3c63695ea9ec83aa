"""Reads for tenants, memberships and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from .health import HealthReport, health_assess
from .keys import secret_matches, split_key
from .models import ApiKey, Client, Heartbeat, Membership, User


def api_key_lookup(*, raw: str) -> ApiKey | None:
    """The key a raw bearer token names, if the secret matches; revocation and expiry are not checked."""
    parts = split_key(raw)
    if parts is None:
        return None
    prefix, secret = parts
    api_key = ApiKey.objects.select_related("client").filter(prefix=prefix).first()
    if api_key is None or not secret_matches(secret, api_key.secret_hash):
        return None
    return api_key


def api_key_is_usable(api_key: ApiKey, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if api_key.revoked_at is not None:
        return False
    return api_key.expires_at is None or api_key.expires_at > now


def api_key_list(*, client: Client) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(client=client).select_related("created_by")


def membership_for(*, user: User, client_id: UUID | str | None = None) -> Membership | None:
    """The user's membership in `client_id`, or their first one when no client is chosen."""
    memberships = Membership.objects.filter(user=user).select_related("client").order_by("created_at")
    if client_id is not None:
        chosen = memberships.filter(client_id=client_id).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def client_get(*, client_id: UUID | str) -> Client | None:
    try:
        return Client.objects.filter(pk=client_id).first()
    except (ValueError, TypeError, ValidationError):  # a malformed UUID
        return None


def heartbeat_last(*, name: str) -> datetime | None:
    return Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()


def heartbeats_all() -> dict[str, datetime]:
    """Every heartbeat row by name (a handful: beat's two and one per queue), in one query."""
    return dict(Heartbeat.objects.values_list("name", "beat_at"))


def health_report(*, now: datetime | None = None, serving_since: datetime | None = None) -> HealthReport:
    """/healthz's judgement (accounts.health): beat, a consumer per declared Celery queue (one named
    in settings.HEALTH_QUEUES_NEEDED_WHEN only while its callable says so), and the
    backlogs named in settings.HEALTH_BACKLOGS, each read by its own app's selector (a callable of
    `now` returning since when the oldest due item has waited). Three indexed queries in all."""
    now = now or timezone.now()
    backlogs = {name: import_string(path)(now=now) for name, path in settings.HEALTH_BACKLOGS.items()}
    return health_assess(
        now=now,
        max_age=settings.HEALTH_MAX_AGE,
        heartbeats=heartbeats_all(),
        queues=[
            queue.name
            for queue in settings.CELERY_TASK_QUEUES
            if queue.name not in settings.HEALTH_QUEUES_NEEDED_WHEN
            or import_string(settings.HEALTH_QUEUES_NEEDED_WHEN[queue.name])()
        ],
        backlogs=backlogs,
        serving_since=serving_since,
    )


def broker_queue_lengths(*, timeout: float = 2.0) -> dict[str, int]:
    """Tasks waiting in each declared Celery queue, as the broker counts them (kombu's passive
    declare: Redis sums the queue's priority lists; the filesystem transport counts its files). A
    queue the broker has never seen (nothing sent to it yet) has 0."""
    from celery import current_app  # the project's app (config/__init__ loads it)
    from kombu.exceptions import ChannelError

    lengths: dict[str, int] = {}
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    with current_app.connection_for_read(connect_timeout=timeout, transport_options=options) as conn:
        conn.ensure_connection(max_retries=0, timeout=max(1, round(timeout)))
        channel: Any = conn.default_channel  # a kombu virtual channel (queue_declare is not in its stub)
        for queue in settings.CELERY_TASK_QUEUES:
            try:
                lengths[queue.name] = int(channel.queue_declare(queue=queue.name, passive=True).message_count)
            except ChannelError:
                lengths[queue.name] = 0
    return lengths


def metrics_facts(*, now: datetime) -> dict[str, object]:
    """/metrics' readings of accounts (accounts.metrics.FACTS): seconds since beat's and each queue's
    last heartbeat (one indexed read of a handful of rows)."""
    ages = {name: max(0.0, (now - beat_at).total_seconds()) for name, beat_at in heartbeats_all().items()}
    return {"herald_heartbeat_age_seconds": ages}


def metrics_broker_facts(*, now: datetime) -> dict[str, object]:
    """/metrics' reading of the broker: each queue's length. A reading of its own, so a broker that
    does not answer costs only this one (herald_facts_errors{source="broker"} 1)."""
    return {"herald_queue_length": broker_queue_lengths()}
