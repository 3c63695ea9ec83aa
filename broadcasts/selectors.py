"""Reads for broadcasts and messages: live stats, message logs, the dashboard."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from accounts.channels import Channel
from accounts.models import Client
from tracking.models import TrackedLink

from .counters import counts_for
from .models import Broadcast, Connector, Message, Reply
from .states import (
    DISPATCHABLE_BROADCAST,
    PAUSE_INSUFFICIENT_CREDIT,
    WAIT_AB_TEST,
    WAIT_INSUFFICIENT_CREDIT,
    WAIT_QUIET_HOURS,
    WAIT_RETRY,
    WAIT_SCHEDULED,
    broadcast_waits_for_credit,
)


@dataclass(frozen=True)
class BroadcastStats:
    """Counts over a broadcast's messages (tests excluded). Cumulative, as a progress bar reads them:
    `sent` counts every message that left Herald (so also one that failed afterwards), `delivered`
    includes read, `queued` is everything still waiting (pending, queued, sending). `clicks` are
    people's clicks on the broadcast's short links (bots and link previews apart), read from each
    link's counter, never recounted from the clicks; `unique_clicks` counts distinct recipients with a
    click; `ctr` is unique_clicks ÷ sent."""

    queued: int = 0
    # Of `queued`, those that wait (SPEC §8 counts them apart): held by their not_before (pending), or
    # every one left while the broadcast is paused for credit (docs/broadcasts.md, "Waiting for credit").
    waiting: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    clicks: int = 0
    skipped: int = 0
    cancelled: int = 0
    cost: Decimal = field(default_factory=Decimal)
    unique_clicks: int = 0

    @property
    def ctr(self) -> float:
        return round(self.unique_clicks / self.sent, 4) if self.sent else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "waiting": self.waiting,
            "queued": self.queued - self.waiting,
            "sent": self.sent,
            "delivered": self.delivered,
            "read": self.read,
            "failed": self.failed,
            "clicks": self.clicks,
            "unique_clicks": self.unique_clicks,
            "ctr": self.ctr,
        }


def broadcast_stats(*, broadcast_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, BroadcastStats]:
    """Each broadcast's stats from its counters (counters.py), and from its row its links' click
    counters and whether it is paused for credit: two indexed reads whatever the number of messages.
    A broadcast paused for credit counts everything it has left as waiting (for a top-up and resume)."""
    ids = list(broadcast_ids)
    if not ids:
        return {}
    counts = counts_for(broadcast_ids=ids)
    link_clicks = (
        TrackedLink.objects.filter(broadcast_id=OuterRef("pk"))
        .order_by()
        .values("broadcast_id")
        .annotate(total=Sum("clicks"))
        .values("total")
    )
    rows = Broadcast.objects.filter(pk__in=ids).annotate(link_clicks=Subquery(link_clicks))
    clicks: dict[uuid.UUID, int] = {}
    for_credit: set[uuid.UUID] = set()
    for pk, status, pause_reason, total in rows.values_list("pk", "status", "pause_reason", "link_clicks"):
        clicks[pk] = int(total or 0)
        if broadcast_waits_for_credit(status=status, pause_reason=pause_reason):
            for_credit.add(pk)
    return {
        i: BroadcastStats(
            queued=c.queued,
            waiting=c.queued if i in for_credit else c.waiting,
            sent=c.sent,
            delivered=c.delivered,
            read=c.read,
            failed=c.failed,
            clicks=clicks.get(i, 0),
            skipped=c.skipped,
            cancelled=c.cancelled,
            cost=c.spent,
            unique_clicks=c.clicked,
        )
        for i, c in counts.items()
    }


# What message_wait needs of a message's broadcast, annotated by message_list(with_waits=True) so a
# page of messages reads it in its own query; without it, message_wait reads message.broadcast.
CREDIT_WAIT = "broadcast_waits_for_credit"


def _waits_for_credit(message: Message) -> bool:
    annotated = getattr(message, CREDIT_WAIT, None)
    if annotated is not None:
        return bool(annotated)
    broadcast = message.broadcast
    return broadcast_waits_for_credit(status=broadcast.status, pause_reason=broadcast.pause_reason)


def _is_retrying(message: Message) -> bool:
    """A retry waiting out its backoff, or deferred by quiet hours when claimed: status `sending` with
    the last attempt's error kept until it is claimed again."""
    return (
        message.status == Message.Status.SENDING
        and bool(message.error_code)
        and message.wait_reason in (WAIT_RETRY, WAIT_QUIET_HOURS)
    )


# Not yet sent and not in flight, as message_wait sees it: pending, queued, or a retry waiting.
UNSENT = Q(status__in=[Message.Status.PENDING, Message.Status.QUEUED]) | (
    Q(status=Message.Status.SENDING, wait_reason__in=[WAIT_RETRY, WAIT_QUIET_HOURS]) & ~Q(error_code="")
)


def broadcast_unsent_messages(*, broadcast: Broadcast) -> QuerySet[Message]:
    """The broadcast's messages not yet sent (tests apart): those that wait while it is paused for credit."""
    return Message.objects.filter(UNSENT, broadcast=broadcast, is_test=False)


def message_wait(message: Message, *, now: datetime | None = None) -> tuple[datetime | None, str | None]:
    """(when it may go, why it waits) for a message that waits (SPEC §10), else (None, None): a
    message not yet sent of a broadcast paused for credit (no time: it goes after a top-up and
    resume), a pending or queued message held by its not_before (its schedule, drip slot or quiet
    hours), or a retry waiting out its backoff (status `sending` with the last attempt's error kept
    until it is claimed again, the time in lease_until)."""
    now = now or timezone.now()
    status = Message.Status
    retrying = _is_retrying(message)
    unsent = message.status in (status.PENDING, status.QUEUED) or retrying
    # Checked first, and only for a message not yet sent: the broadcast is read (when not annotated)
    # only for those. Credit outranks its own time: past it, the message still waits for the resume.
    if unsent and not message.is_test and _waits_for_credit(message):
        return None, WAIT_INSUFFICIENT_CREDIT
    if message.status == status.PENDING and message.wait_reason == WAIT_AB_TEST:
        return message.not_before, WAIT_AB_TEST  # an A/B test's rest: until its decision, even past its time
    held = message.not_before is not None and message.not_before > now
    if message.status in (status.PENDING, status.QUEUED) and held:
        return message.not_before, message.wait_reason or WAIT_SCHEDULED
    if retrying and message.lease_until is not None and message.lease_until > now:
        return message.lease_until, message.wait_reason
    return None, None


def broadcast_list(
    *,
    client: Client,
    status: str | None = None,
    channel: str | None = None,
    name: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    statuses: Iterable[str] | None = None,
) -> QuerySet[Broadcast]:
    queryset = Broadcast.objects.filter(client=client)
    if status:
        queryset = queryset.filter(status=status)
    if statuses is not None:
        queryset = queryset.filter(status__in=list(statuses))
    if channel:
        queryset = queryset.filter(channel=channel)
    if name:
        queryset = queryset.filter(name__icontains=name)
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset


def message_list(*, client: Client, with_waits: bool = False) -> QuerySet[Message]:
    """The client's messages; `with_waits` annotates what message_wait reads of each one's broadcast
    (for a list that shows `wait_reason`: one join in the page's query instead of a read per row)."""
    queryset = Message.objects.filter(client=client)
    if with_waits:
        for_credit = Q(broadcast__status=Broadcast.Status.PAUSED, broadcast__pause_reason=PAUSE_INSUFFICIENT_CREDIT)
        queryset = queryset.annotate(**{CREDIT_WAIT: ExpressionWrapper(for_credit, output_field=BooleanField())})
    return queryset


def reply_list(*, client: Client) -> QuerySet[Reply]:
    return Reply.objects.filter(client=client).select_related("connector")


def broadcast_skips(broadcast: Broadcast) -> dict[str, int]:
    """Recipients left out of a broadcast, by reason (SPEC §8 `skipped`), for every API that shows them."""
    skipped = {
        "invalid": broadcast.skipped_invalid,
        "opted_out": broadcast.skipped_opted_out,
        "unroutable": broadcast.skipped_unroutable,
        "duplicates": broadcast.duplicates,
    }
    if broadcast.channel == Channel.WHATSAPP and not broadcast.template_name:
        # WhatsApp free text (SPEC §14): outside the 24-hour window, when planned or when claimed.
        skipped["whatsapp_window_closed"] = broadcast.skipped_window_closed
    if broadcast.schedule_mode == Broadcast.ScheduleMode.LOCAL_TIME:
        # Recipient local time: their time had passed and `if_passed` was skip (kept with local_time).
        skipped["local_time_passed"] = int((broadcast.local_time or {}).get("skipped") or 0)
    return skipped


def connectors_by_name(*, names: Iterable[str]) -> dict[str, Connector]:
    """The connectors a page of messages went out through (`Message.connector` holds the name)."""
    wanted = {name for name in names if name}
    return {c.name: c for c in Connector.objects.filter(name__in=wanted)} if wanted else {}


@dataclass(frozen=True)
class DashboardRow:
    broadcast: Broadcast
    stats: BroadcastStats

    @property
    def delivery_rate(self) -> float:
        return round(self.stats.delivered / self.stats.sent, 4) if self.stats.sent else 0.0

    @property
    def ctr(self) -> float:
        return self.stats.ctr


@dataclass(frozen=True)
class Dashboard:
    rows: list[DashboardRow]
    unique_clicks: int = 0  # distinct recipients with a click over all the rows (one who clicked twice counts once)

    def totals(self) -> dict[str, Any]:
        stats = [row.stats for row in self.rows]
        sent = sum(s.sent for s in stats)
        delivered = sum(s.delivered for s in stats)
        return {
            "broadcasts": len(self.rows),
            "recipients": sum(row.broadcast.total_recipients for row in self.rows),
            "sent": sent,
            "delivered": delivered,
            "read": sum(s.read for s in stats),
            "failed": sum(s.failed for s in stats),
            "clicks": sum(s.clicks for s in stats),
            "unique_clicks": self.unique_clicks,
            "ctr": round(self.unique_clicks / sent, 4) if sent else 0.0,
            "delivery_rate": round(delivered / sent, 4) if sent else 0.0,
            "cost": sum((s.cost for s in stats), Decimal(0)),
        }


def broadcast_dashboard(
    *, client: Client, created_after: datetime | None = None, created_before: datetime | None = None, limit: int = 100
) -> Dashboard:
    """The newest `limit` broadcasts of the period with their counts, and the totals over them."""
    broadcasts = list(
        broadcast_list(client=client, created_after=created_after, created_before=created_before).order_by(
            "-created_at"
        )[:limit]
    )
    stats = broadcast_stats(broadcast_ids=[b.pk for b in broadcasts])
    return Dashboard(
        [DashboardRow(b, stats[b.pk]) for b in broadcasts],
        unique_clicks=_unique_clickers(broadcast_ids=[b.pk for b in broadcasts if stats[b.pk].unique_clicks]),
    )


def _unique_clickers(*, broadcast_ids: list[uuid.UUID]) -> int:
    """Distinct recipients (URNs) who clicked in any of these broadcasts."""
    if not broadcast_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(DISTINCT urn) FROM broadcasts_message"
            " WHERE broadcast_id = ANY(%s) AND clicked AND NOT is_test",
            [broadcast_ids],
        )
        (count,) = cursor.fetchone()
    return int(count)


# For each dispatchable broadcast no dispatcher holds, its first due unsent message in claim order (the
# partial index message_to_dispatch, LIMIT 1); the broadcasts by their status index.
OLDEST_DUE_SQL = """
SELECT MIN(GREATEST(COALESCE(m.not_before, m.created_at), b.updated_at, b.dispatch_lease_until))
  FROM broadcasts_broadcast b
 CROSS JOIN LATERAL (
        SELECT not_before, created_at FROM broadcasts_message
         WHERE broadcast_id = b.id AND NOT is_test AND status IN ('pending', 'queued')
           AND (not_before IS NULL OR not_before <= %(now)s)
         ORDER BY id
         LIMIT 1
       ) m
 WHERE b.status = ANY(%(dispatchable)s)
   AND (b.dispatch_lease_until IS NULL OR b.dispatch_lease_until < %(now)s)
"""


def message_oldest_due_at(*, now: datetime) -> datetime | None:
    """Since when the oldest due message (not a test send) has waited with no dispatcher on its
    broadcast (/healthz): the latest of when it came due, when its broadcast last changed status and
    when its broadcast's last dispatcher lease ran out. Messages a live dispatcher holds back for the
    connector's tps are not waiting on anyone. None when nothing waits."""
    with connection.cursor() as cursor:
        cursor.execute(OLDEST_DUE_SQL, {"now": now, "dispatchable": sorted(DISPATCHABLE_BROADCAST)})
        (since,) = cursor.fetchone() or (None,)
    return since


def metrics_facts(*, now: datetime) -> dict[str, object]:
    """/metrics' readings of broadcasts (accounts.metrics.FACTS), three indexed reads whatever the
    number of messages: the active broadcasts by status (the status index; the finished statuses
    only grow, and counting them would read the whole table at every scrape), the messages due now
    in dispatchable broadcasts (their counters: queued minus those a time holds back), the oldest due
    one's wait."""
    active = sorted(ACTIVE_BROADCAST_STATUSES)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, COUNT(*) FROM broadcasts_broadcast WHERE status = ANY(%s) GROUP BY status", [active]
        )
        by_status = dict.fromkeys(active, 0) | dict(cursor.fetchall())
        cursor.execute(
            "SELECT COALESCE(SUM(c.queued - c.waiting), 0) FROM broadcasts_broadcastcount c"
            " WHERE c.broadcast_id IN (SELECT id FROM broadcasts_broadcast WHERE status = ANY(%s))",
            [sorted(DISPATCHABLE_BROADCAST)],
        )
        (due,) = cursor.fetchone()
    since = message_oldest_due_at(now=now)
    return {
        "herald_broadcasts": by_status,
        "herald_messages_due": max(0, int(due)),
        "herald_messages_due_oldest_age_seconds": max(0.0, (now - since).total_seconds()) if since else 0.0,
    }


# Broadcasts /metrics counts by status: those still to do something (or waiting for someone).
ACTIVE_BROADCAST_STATUSES = frozenset(
    {Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED, Broadcast.Status.QUEUED, Broadcast.Status.SENDING,
     Broadcast.Status.PAUSED}
)  # fmt: skip
