"""Apply delivery reports (from the simulator now, from provider webhooks later) to messages.

Reports are matched by provider message id. Each target status is one conditional UPDATE that only
touches messages allowed to move there (states.message_sources), so a late or duplicated report
never moves a message backwards. A message that fails after it was sent is refunded in the same
transaction, and each move is announced (message.delivered, .read, .failed) in it too.

A report for a provider id no message has recorded yet is kept (EarlyReport) for
EARLY_REPORT_MINUTES: a provider may report before Herald has written the answer of the request that
sent it. The dispatcher applies kept reports in the transaction that records their provider ids
(`early_reports_apply`); beat's tick applies any that raced that record and drops, with a log line,
those older than the window (`early_reports_sweep`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

import structlog
from django.db import connection, transaction
from django.utils import timezone

from accounts import metrics
from accounts.sql_values import text_array

from . import billing
from .connectors import StatusUpdate
from .events import STATUS_EVENT, messages_announce_ids
from .models import EarlyReport, Message
from .states import message_sources

log = structlog.get_logger(__name__)

EARLY_REPORT_MINUTES = 15

_TIMESTAMP_COLUMN: dict[str, str] = {
    Message.Status.DELIVERED: "delivered_at",
    Message.Status.READ: "read_at",
    Message.Status.FAILED: "failed_at",
}


@dataclass(frozen=True)
class AppliedReports:
    applied: int
    ignored: int
    unknown: int
    kept: tuple[str, ...] = ()  # the provider ids kept as early reports (no message has them yet)


# Which of these provider ids name a message: one provider-id index lookup each (OFFSET 0 keeps
# it so; an `= ANY` was planned as a scan of the table while its statistics knew no provider id).
KNOWN = """
SELECT found.provider_message_id
  FROM unnest(%s::text[]) AS u(provider_message_id),
       LATERAL (SELECT provider_message_id FROM broadcasts_message
                 WHERE provider_message_id = u.provider_message_id AND connector = %s OFFSET 0) AS found
"""


def messages_apply_status(*, connector_name: str, updates: Sequence[StatusUpdate]) -> AppliedReports:
    by_status: dict[str, dict[str, StatusUpdate]] = defaultdict(dict)
    for update in updates:
        if update.status in _TIMESTAMP_COLUMN:
            by_status[update.status][update.provider_message_id] = update
    applied = 0
    now = timezone.now()
    known: set[str] = set()
    # No savepoint inside a caller's transaction (the SMPP store's batch, a group's record): an
    # error here fails the caller's whole transaction anyway, and a savepoint is two round trips.
    with transaction.atomic(savepoint=False):
        for status, reports in by_status.items():
            ids = list(reports)
            with connection.cursor() as cursor:
                cursor.execute(KNOWN, [text_array(ids), connector_name])
                known.update(row[0] for row in cursor.fetchall())
            applied += _apply(status=status, reports=reports, connector_name=connector_name, now=now)
        early = [u for u in updates if u.status in _TIMESTAMP_COLUMN and u.provider_message_id not in known]
        if early:
            EarlyReport.objects.bulk_create(
                EarlyReport(
                    connector=connector_name,
                    provider_message_id=u.provider_message_id[:128],
                    status=u.status,
                    error_code=(u.error_code or "")[:64],
                    reported_at=u.at,
                )
                for u in early
            )
    unknown = len({u.provider_message_id for u in updates} - known)
    if unknown:
        log.info("delivery_report.kept_for_later", connector=connector_name, count=unknown)
    kept = tuple(u.provider_message_id[:128] for u in early)
    return AppliedReports(applied=applied, ignored=len(updates) - applied - unknown, unknown=unknown, kept=kept)


def early_reports_apply(*, recorded: Sequence[tuple[str, str]]) -> int:
    """Apply (and forget) the kept reports of these (connector, provider id) pairs, just recorded.
    Runs in the recording's transaction; returns how many messages moved."""
    if not recorded:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            DELETE FROM broadcasts_earlyreport e
             USING unnest(%s::text[], %s::text[]) AS r(connector, provider_message_id)
             WHERE e.connector = r.connector AND e.provider_message_id = r.provider_message_id
         RETURNING e.connector, e.provider_message_id, e.status, e.error_code, e.reported_at
            """,
            [[c for c, _ in recorded], [p for _, p in recorded]],
        )
        rows = cursor.fetchall()
    return _apply_kept(rows)


def early_reports_recheck(*, connector_name: str, provider_message_ids: Sequence[str]) -> int:
    """Apply the kept reports of these ids whose message has recorded its provider id meanwhile: a
    report that raced the record's transaction (read while the send's answer was being recorded)
    need not wait for beat's sweep (up to 10 s): the SMPP store looks again a moment later. Returns
    how many messages moved; the rest stay kept for the sweep."""
    if not provider_message_ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            DELETE FROM broadcasts_earlyreport e
             WHERE e.connector = %s AND e.provider_message_id = ANY(%s)
               AND EXISTS (SELECT 1 FROM broadcasts_message m
                            WHERE m.connector = e.connector AND m.provider_message_id = e.provider_message_id)
         RETURNING e.connector, e.provider_message_id, e.status, e.error_code, e.reported_at
            """,
            [connector_name, list(provider_message_ids)],
        )
        return _apply_kept(cursor.fetchall())


def early_reports_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Beat: apply kept reports whose provider id a message has recorded meanwhile (one that raced
    the record's transaction), and drop those older than the window. Returns (applied, dropped)."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            DELETE FROM broadcasts_earlyreport e
             WHERE EXISTS (SELECT 1 FROM broadcasts_message m
                            WHERE m.connector = e.connector AND m.provider_message_id = e.provider_message_id)
         RETURNING e.connector, e.provider_message_id, e.status, e.error_code, e.reported_at
            """
        )
        applied = _apply_kept(cursor.fetchall())
        cursor.execute(
            "DELETE FROM broadcasts_earlyreport WHERE received_at < %s RETURNING connector",
            [now - timedelta(minutes=EARLY_REPORT_MINUTES)],
        )
        dropped: dict[str, int] = defaultdict(int)
        for (connector,) in cursor.fetchall():
            dropped[connector] += 1
    for connector, count in dropped.items():
        log.warning("delivery_report.dropped_unknown_ids", connector=connector, count=count)
    return applied, sum(dropped.values())


def _apply_kept(rows: Sequence[tuple[str, str, str, str, datetime | None]]) -> int:
    by_connector: dict[str, list[StatusUpdate]] = defaultdict(list)
    for connector, provider_message_id, status, error_code, at in rows:
        by_connector[connector].append(StatusUpdate(provider_message_id, status, error_code, at))
    return sum(messages_apply_status(connector_name=c, updates=u).applied for c, u in by_connector.items())


def _apply(*, status: str, reports: dict[str, StatusUpdate], connector_name: str, now: datetime) -> int:
    column = _TIMESTAMP_COLUMN[status]
    # Reports apply to messages that have left. One racing ahead of our own record of the send
    # (still `sending`) is not applied; providers retry reports, and the simulator reports only
    # after the send is recorded.
    sources = sorted(message_sources(status) - {Message.Status.PENDING, Message.Status.QUEUED, Message.Status.SENDING})
    ids = list(reports)
    error_codes = [reports[i].error_code or ("delivery_failed" if status == "failed" else "") for i in ids]
    extra = ""
    if status == Message.Status.READ:
        extra = ", delivered_at = COALESCE(m.delivered_at, %(now)s)"
    with connection.cursor() as cursor:
        # Each report's message is looked up by its provider id (the provider-id index: OFFSET 0
        # keeps the lookup per report, a plan statistics cannot change), then updated by primary
        # key (`id = ANY` of the ids found), its error code looked up by id in a map, not joined.
        # Statistics taken before a large broadcast was sent (no `sent` row, no provider id known
        # to them) led the planner to scan the broadcast's messages once per report, or (joined
        # with the reports) the whole table once per batch: 41 ms for 200 receipts at 20,000 rows,
        # growing with the table; ~10 ms now, whatever the statistics say.
        cursor.execute(
            f"""
            WITH r AS MATERIALIZED (
                SELECT found.id, u.error_code
                  FROM unnest(%(ids)s::text[], %(codes)s::text[]) AS u(provider_message_id, error_code),
                       LATERAL (SELECT id FROM broadcasts_message
                                 WHERE provider_message_id = u.provider_message_id AND connector = %(connector)s
                                OFFSET 0) AS found
            ), k AS MATERIALIZED (
                SELECT array_agg(id) AS ids, jsonb_object_agg(id::text, error_code) AS codes FROM r
            )
            UPDATE broadcasts_message AS m
               SET status = %(status)s, {column} = COALESCE(m.{column}, %(now)s), lease_until = NULL,
                   error_code = CASE WHEN %(status)s = 'failed' THEN (SELECT codes FROM k) ->> m.id::text
                                     ELSE m.error_code END
                   {extra}
             WHERE m.id = ANY((SELECT ids FROM k)::bigint[]) AND m.status = ANY(%(sources)s::text[])
         RETURNING m.id, m.client_id, m.broadcast_id, m.cost, m.sent_at
            """,  # noqa: S608 - column names come from a fixed table above, values are parameters
            {
                "status": status,
                "now": now,
                "ids": text_array(ids),
                "codes": text_array(error_codes),
                "connector": connector_name,
                "sources": sources,
            },
        )
        rows = cursor.fetchall()
    if status == Message.Status.FAILED and rows:
        refunds: dict[UUID, Decimal] = defaultdict(Decimal)
        for _id, _client, broadcast_id, cost, _sent_at in rows:
            refunds[broadcast_id] += cost
        for broadcast_id, amount in refunds.items():
            billing.refund(broadcast_id=broadcast_id, amount=amount)
    by_client: dict[UUID, list[int]] = defaultdict(list)
    for message_id, client_id, *_rest in rows:
        by_client[client_id].append(message_id)
    messages_announce_ids(STATUS_EVENT[status], by_client)
    metrics.reports_applied(connector_name, status, [row[4] for row in rows], now)
    return len(rows)
