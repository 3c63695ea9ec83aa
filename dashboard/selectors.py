"""Reads the dashboard needs that no app offers yet. Reads only: every write goes through a service.

The figures on the broadcast pages come from `broadcasts.selectors.broadcast_stats`, the same read
the API serialises, so both always agree."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Client, Membership
from broadcasts.models import Broadcast, Message
from broadcasts.selectors import broadcast_list, broadcast_stats, broadcast_unsent_messages, message_list
from broadcasts.states import WAIT_INSUFFICIENT_CREDIT, WAIT_SCHEDULED, actions_allowed, broadcast_waits_for_credit
from contacts import phones
from contacts.models import Contact, ContactImport
from contacts.selectors import contact_import_queryset, contact_queryset, contact_search
from tracking.models import Click, TrackedLink
from tracking.selectors import link_clicks, link_list

PROBLEM_STATUSES = (Message.Status.SKIPPED, Message.Status.FAILED)


def _uuid(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404("No such object.") from None


def broadcast_for(*, client: Client, broadcast_id: object) -> Broadcast:
    """The client's broadcast, or 404 (another client's id is a 404 too, as in the API)."""
    broadcast = broadcast_list(client=client).filter(pk=_uuid(broadcast_id)).first()
    if broadcast is None:
        raise Http404("No such broadcast.")
    return broadcast


# The user's actions the broadcast page can offer, by their name in broadcasts.states.ACTIONS.
USER_ACTIONS = frozenset({"pause", "resume", "cancel", "retry", "test"})


def broadcast_actions(*, broadcast: Broadcast, failed: int) -> frozenset[str]:
    """The user's actions that apply to the broadcast now: those its status allows in
    broadcasts.states.ACTIONS, less a retry with no failed message to retry (the service refuses
    that too, `nothing_to_retry`). `failed` is the broadcast's failed count from broadcast_stats."""
    allowed = actions_allowed(broadcast.status) & USER_ACTIONS
    return allowed - {"retry"} if failed == 0 else allowed


def _uuids(values: list[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return found


PICKER_RESULTS = 20


def contact_picker_search(*, client: Client, term: str) -> list[Contact]:
    """The compose picker's matches: contacts' own search (name or phone), the first few by name."""
    if not term.strip():
        return []
    queryset = contact_search(contact_queryset(client=client).prefetch_related(None), term)
    return list(queryset.order_by("first_name", "last_name", "phone", "id")[:PICKER_RESULTS])


def contacts_chosen(*, client: Client, ids: list[str]) -> list[Contact]:
    """The picked contacts, in the order picked; an unknown or another client's id is left out."""
    wanted = list(dict.fromkeys(_uuids(ids)))
    found = {c.pk: c for c in contact_queryset(client=client).prefetch_related(None).filter(pk__in=wanted)}
    return [found[pk] for pk in wanted if pk in found]


def link_for(*, client: Client, link_id: object) -> TrackedLink:
    """The client's tracked link, or 404 (another client's link is a 404 too)."""
    link = link_list(client=client).filter(pk=_uuid(link_id)).first()
    if link is None:
        raise Http404("No such link.")
    return link


@dataclass(frozen=True)
class ClickRow:
    click: Click
    urn: str  # the recipient's address for a person's click; empty for a bot or an unknown message


def click_rows(*, client: Client, link: TrackedLink, start: int, limit: int) -> list[ClickRow]:
    """A page of the link's clicks, newest first, each human click with its message's recipient
    (the message read by id within the same client: two queries a page)."""
    clicks = link_clicks(link=link).only("id", "clicked_at", "is_bot", "user_agent", "message_id")
    rows = list(clicks[start : start + limit])
    ids = {c.message_id for c in rows if not c.is_bot and c.message_id is not None}
    urns = dict(message_list(client=client).filter(id__in=ids).values_list("id", "urn")) if ids else {}
    return [ClickRow(c, "" if c.is_bot else urns.get(c.message_id or 0, "")) for c in rows]


def contact_for(*, client: Client, contact_id: object) -> Contact:
    """The client's contact, or 404 (another client's contact is a 404 too)."""
    contact = contact_queryset(client=client).prefetch_related(None).filter(pk=_uuid(contact_id)).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


def contact_import_for(*, client: Client, import_id: object) -> ContactImport:
    job = contact_import_queryset(client=client).filter(pk=_uuid(import_id)).first()
    if job is None:
        raise Http404("No such import.")
    return job


@dataclass(frozen=True)
class Reason:
    status: str
    error_code: str
    count: int
    example: str  # one error message of that code, for a human reading the page


def problem_reasons(*, broadcast: Broadcast) -> list[Reason]:
    """Skipped and failed messages grouped by status and error code, the largest group first."""
    rows = (
        Message.objects.filter(broadcast=broadcast, is_test=False, status__in=PROBLEM_STATUSES)
        .values("status", "error_code")
        .annotate(count=Count("id"))
        .order_by("-count", "status", "error_code")[:50]
    )
    reasons = []
    for row in rows:
        example = (
            Message.objects.filter(
                broadcast=broadcast, is_test=False, status=row["status"], error_code=row["error_code"]
            )
            .exclude(error_message="")
            .values_list("error_message", flat=True)
            .first()
        )
        reasons.append(Reason(row["status"], row["error_code"] or "—", row["count"], example or ""))
    return reasons


WAITING_SCANNED = 10_000  # a page reads why at most this many messages wait (a 1M drip stays cheap)


@dataclass(frozen=True)
class Waiting:
    reason: str  # SPEC §10 wait_reason
    count: int
    first: datetime | None  # when the first of them may go; None when no time is known (credit)
    more: bool  # counted WAITING_SCANNED and stopped: `count` is a floor


def waiting_reasons(*, broadcast: Broadcast, now: datetime | None = None) -> list[Waiting]:
    """Why a broadcast's messages wait (its pending or deferred queued messages), most first: one
    query over two indexes, bounded by WAITING_SCANNED. A broadcast paused for credit has one
    reason for all it has left, as broadcasts.selectors.message_wait says of each message."""
    if broadcast_waits_for_credit(status=broadcast.status, pause_reason=broadcast.pause_reason):
        unsent = len(broadcast_unsent_messages(broadcast=broadcast).order_by().values_list("id")[: WAITING_SCANNED + 1])
        more = unsent > WAITING_SCANNED
        return [Waiting(WAIT_INSUFFICIENT_CREDIT, min(unsent, WAITING_SCANNED), None, more)] if unsent else []
    now = now or timezone.now()
    waiting = Message.objects.filter(broadcast=broadcast, is_test=False, not_before__gt=now).values(
        "wait_reason", "not_before"
    )
    # Each part in the order of an index that has the broadcast's rows of that status together, so it
    # stops after the rows it needs whatever the statistics say (in no order, or by id alone, the
    # planner may scan the table or walk the pk: 400 ms for a 500,000-message local-time broadcast).
    # Pending ones earliest first (message_waiting_not_before): each reason's first is the true first.
    pending = waiting.filter(status=Message.Status.PENDING).order_by("not_before")[: WAITING_SCANNED + 1]
    queued = waiting.filter(status=Message.Status.QUEUED).order_by("broadcast_id", "status", "id")
    held = pending.union(queued[: WAITING_SCANNED + 1], all=True)
    # Counted in the database (10,000 rows into Python took 300 ms): the scanned rows by reason, and
    # how many were scanned (WAITING_SCANNED + 1: there are more).
    inner, params = held.query.sql_with_params()
    sql = f"""
        SELECT h.wait_reason, count(*) FILTER (WHERE h.n <= %s), min(h.not_before) FILTER (WHERE h.n <= %s),
               max(h.n)
          FROM (SELECT i.wait_reason, i.not_before, row_number() OVER () AS n FROM ({inner}) AS i) AS h
         GROUP BY h.wait_reason
    """  # noqa: S608 - the inner query is the ORM's own, its values parameters
    counts: dict[str, int] = {}
    firsts: dict[str, datetime] = {}
    scanned = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, [WAITING_SCANNED, WAITING_SCANNED, *params])
        for reason, count, first, seen in cursor.fetchall():
            scanned = max(scanned, int(seen))
            if count:
                key = reason or WAIT_SCHEDULED
                counts[key] = counts.get(key, 0) + int(count)
                if first is not None and (key not in firsts or first < firsts[key]):
                    firsts[key] = first
    more = scanned > WAITING_SCANNED
    return sorted(
        (Waiting(reason, count, firsts.get(reason), more) for reason, count in counts.items()), key=lambda w: -w.count
    )


def local_time_bounds(*, broadcast: Broadcast) -> tuple[datetime | None, datetime | None]:
    """When the first and the last of a broadcast's messages still waiting for their time go (min
    and max `not_before` of its pending messages): one probe each of the partial index
    `message_waiting_not_before` (dashboard migration 0001), however large the broadcast — a
    local-time broadcast to a million waits in a million rows. Two `ORDER BY … LIMIT 1` rather than
    one min()/max(): right after a large preparation the table's statistics are stale, and the
    planner then reads min() and max() by walking the whole index (1 s at a million); the ordered
    form takes the first entry whatever the statistics say."""
    waiting = Message.objects.filter(
        broadcast=broadcast, is_test=False, status=Message.Status.PENDING, not_before__isnull=False
    ).values_list("not_before", flat=True)
    return waiting.order_by("not_before").first(), waiting.order_by("-not_before").first()


# The sends chart's bucket sizes, in seconds: the smallest that keeps the broadcast's whole span of
# sending within SEND_BUCKETS_MAX buckets (10 s for a few minutes, 1 min for an hour or two, 10 min
# for most of a day, 1 h for days); a span longer than the last size allows gets whole days.
SEND_BUCKET_SIZES = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
SEND_BUCKETS_MAX = 120


@dataclass(frozen=True)
class SendBuckets:
    step: int  # seconds per bucket
    points: list[tuple[datetime, int]]  # each bucket's start (aware) and count, gaps zero-filled


def send_buckets(*, broadcast: Broadcast) -> SendBuckets:
    """Messages that left Herald (tests excluded) over the broadcast's whole span of sending, in
    buckets sized to that span (SEND_BUCKET_SIZES), zero-filled between the first and the last.
    One query: the span, the bucket size and the counts (date_bin) are all worked out by Postgres.
    Buckets start on round moments of the active time zone (a 1 h bucket starts on its hour)."""
    origin = datetime(2000, 1, 1, tzinfo=timezone.get_current_timezone())
    # Only the table's name is formatted into the SQL; every value is a parameter.
    sql = f"""
        WITH sent AS (
            SELECT sent_at FROM {Message._meta.db_table}
            WHERE broadcast_id = %s AND NOT is_test AND sent_at IS NOT NULL
              AND status IN ('sent', 'delivered', 'read', 'failed')
        ), span AS (
            SELECT EXTRACT(EPOCH FROM max(sent_at) - min(sent_at)) AS seconds FROM sent
        ), size AS (
            SELECT COALESCE(
                (SELECT min(s) FROM unnest(%s::integer[]) AS s WHERE s * %s >= span.seconds),
                CEIL(span.seconds / %s / 86400) * 86400
            )::integer AS step
            FROM span WHERE span.seconds IS NOT NULL
        )
        SELECT date_bin(make_interval(secs => size.step), sent.sent_at, %s) AS bucket, size.step, count(*)
        FROM sent CROSS JOIN size GROUP BY 1, 2 ORDER BY 1
    """  # noqa: S608
    # Only a message that left has `sent_at` (recording.py sets it with `sent`; a status never goes
    # back), so the status filter changes nothing but lets the (broadcast, status) index skip a
    # local-time broadcast's million pending messages.
    last_index = SEND_BUCKETS_MAX - 1  # n sizes of span need n + 1 buckets when aligned to round moments
    with connection.cursor() as cursor:
        cursor.execute(sql, [broadcast.pk, list(SEND_BUCKET_SIZES), last_index, last_index, origin])
        rows = cursor.fetchall()
    if not rows:
        return SendBuckets(step=SEND_BUCKET_SIZES[0], points=[])
    step = rows[0][1]
    counts = {bucket: count for bucket, _, count in rows}
    first, last = rows[0][0], rows[-1][0]
    points = []
    at = first
    while at <= last:
        points.append((at, counts.get(at, 0)))
        at += timedelta(seconds=step)
    return SendBuckets(step=step, points=points)


@dataclass(frozen=True)
class MessageFilters:
    broadcast: str = ""
    status: str = ""  # one status, or several separated by commas (any matches), as the API's filter
    phone: str = ""
    error_code: str = ""


# The log's status choices: each status, and after `read` both delivered statuses at once — a message
# read was delivered first but has status `read` (one status, its latest), so "Delivered" alone
# leaves the read ones out (issue 21).
DELIVERED_OR_READ = f"{Message.Status.DELIVERED},{Message.Status.READ}"


def message_status_choices() -> list[tuple[str, str]]:
    """(filter value, label) for the message log's status filter."""
    choices: list[tuple[str, str]] = []
    for value, label in Message.Status.choices:
        choices.append((value, label))
        if value == Message.Status.READ:
            choices.append((DELIVERED_OR_READ, "Delivered or read"))
    return choices


def _log_statuses(value: str) -> list[str]:
    """The statuses a log filter names; an unknown one is ignored, as the log ignores a bad filter."""
    return [status for status in (item.strip() for item in value.split(",")) if status in Message.Status.values]


def message_log(*, client: Client, filters: MessageFilters) -> QuerySet[Message]:
    """The client's messages, newest first, narrowed by the log's filters (an unparsable phone
    matches nothing rather than everything)."""
    queryset = message_list(client=client).filter(is_test=False)
    if filters.broadcast:
        queryset = queryset.filter(broadcast_id=_uuid(filters.broadcast))
    statuses = _log_statuses(filters.status)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if filters.error_code:
        queryset = queryset.filter(error_code=filters.error_code)
    if filters.phone:
        try:
            e164 = phones.parse_phone(filters.phone.strip(), client.country)
        except phones.AddressError:
            return queryset.none()
        queryset = queryset.filter(Q(urn=f"tel:{e164}") | Q(urn=f"whatsapp:{e164}"))
    return queryset.order_by("-id")


EXPORT_COLUMNS = (
    "id",
    "broadcast_id",
    "urn",
    "status",
    "error_code",
    "error_message",
    "segments",
    "cost",
    "route_code",
    "text",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
)


def message_export_rows(queryset: QuerySet[Message], *, chunk_size: int = 2000) -> Iterator[tuple[object, ...]]:
    """Rows for the CSV export through a server-side cursor: `chunk_size` rows in memory at a time,
    whether the log holds a hundred messages or a million."""
    return queryset.values_list(*EXPORT_COLUMNS).iterator(chunk_size=chunk_size)


def members(*, client: Client) -> QuerySet[Membership]:
    return Membership.objects.filter(client=client).select_related("user").order_by("created_at")


def contact_field_names(*, client: Client, limit: int = 30) -> list[str]:
    """The custom field names the client's contacts carry, for the compose page's variable buttons."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT k FROM (SELECT jsonb_object_keys(fields) AS k FROM contacts_contact"
            " WHERE client_id = %s LIMIT 100000) AS keys ORDER BY k LIMIT %s",
            [client.pk, limit],
        )
        return [row[0] for row in cursor.fetchall()]


OVERVIEW_DAYS = 30
OVERVIEW_BROADCASTS = 1000  # the busiest tenant's month, with room; beyond, the oldest days fall short


@dataclass(frozen=True)
class Day:
    day: date
    broadcasts: int = 0
    sent: int = 0
    delivered: int = 0
    cost: Decimal = Decimal(0)

    @property
    def delivery_rate(self) -> float:
        """As the API rounds it (4 decimals), 0 when nothing was sent."""
        return round(self.delivered / self.sent, 4) if self.sent else 0.0


def client_zone(client: Client) -> ZoneInfo:
    try:
        return ZoneInfo(client.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def daily_totals(
    *, client: Client, days: int = OVERVIEW_DAYS, now: datetime | None = None, zone: ZoneInfo | None = None
) -> list[Day]:
    """Sent, delivered and spend of the broadcasts created on each of the last `days` days (the
    client's time zone, oldest first, a day without broadcasts at zero), from the counters the API
    serialises: a day's figures equal `GET /api/v1/broadcasts/dashboard/` from that day's midnight
    to the next. A broadcast counts on the day it was created, its later sends included. `zone`:
    whose days (the dashboard user's), the client's unless given."""
    zone = zone or client_zone(client)
    today = timezone.localtime(now or timezone.now(), zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=zone)
    created = list(
        broadcast_list(client=client, created_after=start)
        .order_by("-created_at")
        .values_list("pk", "created_at")[:OVERVIEW_BROADCASTS]
    )
    stats = broadcast_stats(broadcast_ids=[pk for pk, _ in created])
    totals = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}
    for pk, at in created:
        day = timezone.localtime(at, zone).date()
        if day in totals:
            kept, got = totals[day], stats[pk]
            totals[day] = Day(
                day, kept.broadcasts + 1, kept.sent + got.sent, kept.delivered + got.delivered, kept.cost + got.cost
            )
    return list(totals.values())
