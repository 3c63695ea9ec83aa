"""Claiming messages to send, and the write-ahead handed mark: no message is handed over twice.

A claim is one transaction: `SELECT … FOR UPDATE SKIP LOCKED` of due messages, then one UPDATE to
`sending` with a lease and the claimer's token, committed before any provider is called; two
claimers never take the same row. Before each request group leaves, `hand` marks its messages
handed, in one statement that is also the fence: it marks only messages still claimed under the
caller's token, and (for a broadcast's dispatcher) only while the dispatcher still holds the
broadcast's lease and the broadcast is still sending. What it did not mark is not sent.

The handed mark is permanent: no claim clears it, only the record of an answer that says the
provider did not take the message. A message claimed while it carries the mark has an unknown
outcome (`recovering`): only an idempotent connector may send it again. docs/broadcasts.md, "A
message's send", has the whole state machine.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.sql_values import int_array

from .leases import lease_seconds, message_lease_seconds
from .models import Broadcast, Message
from .quiet_hours import next_allowed, number_zones
from .states import DISPATCHABLE_BROADCAST, UNCLAIM_FROM, WAIT_QUIET_HOURS, message_sources

M = Message.Status
# What a claim may take: the statuses states.py lets move to `sending` (and stuck `sending`).
CLAIMABLE = message_sources(M.SENDING) - {M.SENDING}
COLUMNS = "id, status, urn, country_code, connector, text, cost, error_code, language, parameters, handed_at"


@dataclass(frozen=True)
class Claimed:
    id: int
    urn: str
    connector: str
    text: str
    cost: Decimal
    recovering: bool  # handed to a provider before, outcome never recorded: maybe delivered
    language: str = ""
    parameters: tuple[str, ...] = ()


def urn_path(urn: str) -> str:
    return urn.split(":", 1)[1] if ":" in urn else urn


def _claimed(row: tuple[Any, ...]) -> Claimed:
    mid, _status, urn, _country, connector_name, text, cost, _error, language, parameters, handed_at = row
    if isinstance(parameters, str):  # Django has psycopg load jsonb as text
        parameters = json.loads(parameters)
    params = tuple(str(p) for p in parameters) if isinstance(parameters, list) else ()
    # Handed to a provider before and no answer recorded since (a sender that died or stalled, or an
    # unknown outcome waiting for an idempotent resend): maybe delivered. One never handed over is
    # simply sent, like any queued message.
    recovering = handed_at is not None
    return Claimed(mid, urn, connector_name, text, cost, recovering, language or "", params)


def _mark_sending(cursor: Any, ids: list[int], now: datetime, token: str) -> None:
    """Claimed under `token`. The handed mark is left as it is (it is write-ahead and permanent)."""
    cursor.execute(
        """
        UPDATE broadcasts_message
           SET status = 'sending', attempts = attempts + 1, lease_until = %(lease)s, claim_token = %(token)s,
               queued_at = COALESCE(queued_at, %(now)s), error_code = '', error_message = ''
         WHERE id = ANY(%(ids)s::bigint[])
        """,
        {"ids": int_array(ids), "now": now, "lease": now + timedelta(seconds=message_lease_seconds()), "token": token},
    )


def claim_batch(broadcast: Broadcast, *, limit: int, now: datetime, token: str) -> tuple[list[Claimed], int]:
    """Claim up to `limit` due messages of a broadcast under `token`. Returns (claimed, deferred by
    quiet hours)."""
    marketing = broadcast.purpose == Broadcast.Purpose.MARKETING
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {COLUMNS}
              FROM broadcasts_message
             WHERE broadcast_id = %(b)s AND NOT is_test
               AND status IN ('pending', 'queued', 'sending')  -- the partial index message_to_dispatch
               AND ((status = ANY(%(waiting)s) AND (not_before IS NULL OR not_before <= %(now)s)
                     AND wait_reason <> 'ab_test')  -- an A/B test's rest waits for its decision (ab_test.py)
                    OR (status = 'sending' AND lease_until <= %(now)s))
             ORDER BY id
             LIMIT %(limit)s
               FOR UPDATE SKIP LOCKED
            """,  # noqa: S608 - COLUMNS is a constant
            {"b": broadcast.pk, "now": now, "limit": limit, "waiting": sorted(CLAIMABLE)},
        )
        claimed: list[Claimed] = []
        deferred: dict[datetime, list[int]] = defaultdict(list)
        retries_deferred: dict[datetime, list[int]] = defaultdict(list)
        for row in cursor.fetchall():
            status, urn, country, error_code = row[1], row[2], row[3], row[7]
            # A first attempt, or a retry (it carries its last error); never a dead sender's message,
            # which was already in a provider's hands inside the window it was sent in.
            waiting = status != M.SENDING or bool(error_code)
            if marketing and waiting:
                # Quiet hours hold for retries too: a message due in them waits for the window.
                zones = number_zones(urn_path(urn), country)
                allowed = next_allowed(country, zones, now) if zones else now
                if allowed > now:
                    (retries_deferred if status == M.SENDING else deferred)[allowed].append(row[0])
                    continue
            claimed.append(_claimed(row))
        for allowed, ids in deferred.items():
            Message.objects.filter(pk__in=ids).update(not_before=allowed, wait_reason=WAIT_QUIET_HOURS)
        for allowed, ids in retries_deferred.items():
            Message.objects.filter(pk__in=ids, status=M.SENDING).update(
                lease_until=allowed, wait_reason=WAIT_QUIET_HOURS
            )
        if claimed:
            _mark_sending(cursor, [c.id for c in claimed], now, token)
    return claimed, sum(len(ids) for ids in deferred.values()) + sum(len(ids) for ids in retries_deferred.values())


def claim_tests(*, message_ids: list[int], now: datetime, token: str) -> list[Claimed]:
    """Claim test messages by id: queued ones, and those whose retry is due or whose sender died."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {COLUMNS}
              FROM broadcasts_message
             WHERE id = ANY(%(ids)s) AND is_test
               AND (status = 'queued' OR (status = 'sending' AND lease_until <= %(now)s))
             ORDER BY id
               FOR UPDATE SKIP LOCKED
            """,  # noqa: S608 - COLUMNS is a constant
            {"ids": message_ids, "now": now},
        )
        claimed = [_claimed(row) for row in cursor.fetchall()]
        if claimed:
            _mark_sending(cursor, [c.id for c in claimed], now, token)
    return claimed


def hand(*, message_ids: Sequence[int], token: str, broadcast_id: uuid.UUID | str | None) -> list[int]:
    """Mark these messages handed, now, before their requests leave: the fence of every send.

    Marks only messages still `sending` under `token`; for a broadcast's dispatcher (broadcast_id
    given) only while it holds the broadcast's lease (or a helper lane's) under the same token and
    the broadcast is still sending — the lease is renewed in the same statement once half of it has
    run out. Returns the ids marked: send those only.
    One statement, so the check and the mark cannot be told apart by a concurrent pause or takeover.
    """
    if not message_ids:
        return []
    lease = lease_seconds()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH holder AS (
                -- A read: it never waits on the broadcast's row lock (a preparer's chunk holds it).
                SELECT dispatch_lease_until AS until FROM broadcasts_broadcast
                 WHERE id = %(broadcast)s AND dispatch_token = %(token)s AND status = ANY(%(dispatchable)s)
                   AND dispatch_lease_until > %(now)s
                 UNION ALL
                -- A helper lane (leases.py, "Lanes"): its own lease row, the broadcast still sending.
                SELECT l.lease_until FROM broadcasts_dispatchlane l
                  JOIN broadcasts_broadcast b ON b.id = l.broadcast_id
                 WHERE l.broadcast_id = %(broadcast)s AND l.token = %(token)s AND b.status = ANY(%(dispatchable)s)
                   AND l.lease_until > %(now)s
            ), renewed AS (
                -- Renewed only once half of it has run out: a row write every ~30 s, not per group.
                UPDATE broadcasts_broadcast b
                   SET dispatch_lease_until = %(now)s + make_interval(secs => %(lease)s)
                  FROM holder h
                 WHERE b.id = %(broadcast)s AND b.dispatch_token = %(token)s
                   AND h.until < %(now)s + make_interval(secs => %(lease)s / 2)
            ), renewed_lane AS (
                UPDATE broadcasts_dispatchlane l
                   SET lease_until = %(now)s + make_interval(secs => %(lease)s)
                  FROM holder h
                 WHERE l.broadcast_id = %(broadcast)s AND l.token = %(token)s
                   AND h.until < %(now)s + make_interval(secs => %(lease)s / 2)
            )
            UPDATE broadcasts_message
               SET handed_at = %(now)s, lease_until = %(now)s + make_interval(secs => %(message_lease)s)
             WHERE id = ANY(%(ids)s::bigint[]) AND status = 'sending' AND claim_token = %(token)s
               AND (%(broadcast)s::uuid IS NULL OR EXISTS (SELECT 1 FROM holder))
         RETURNING id
            """,
            {
                "now": timezone.now(),  # the clock every lease is read by (leases.py)
                "lease": lease,
                "message_lease": message_lease_seconds(),
                "broadcast": str(broadcast_id) if broadcast_id is not None else None,
                "token": token,
                "dispatchable": sorted(DISPATCHABLE_BROADCAST),
                "ids": int_array(message_ids),
            },
        )
        return [row[0] for row in cursor.fetchall()]


def give_back(*, message_ids: Sequence[int], token: str, unhand: bool = False) -> list[int]:
    """Messages claimed under `token` whose requests never left this time (the dispatcher stopped
    before their group: a pause, a cancel, a lost lease, its time budget): queued again, the attempt
    undone. A message the broadcast's cancel reached meanwhile ends `cancelled` instead. Returns
    the ids given back. `unhand`: their handed mark goes too — only for a group marked (or being
    marked) handed whose requests were certainly never started (a soft time limit inside `hand`)."""
    if not message_ids:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE broadcasts_message
               SET status = %(queued)s, attempts = GREATEST(attempts - 1, 0), lease_until = NULL,
                   handed_at = CASE WHEN %(unhand)s THEN NULL ELSE handed_at END
             WHERE id = ANY(%(ids)s) AND status = ANY(%(from)s) AND claim_token = %(token)s
         RETURNING id
            """,
            {
                "queued": M.QUEUED,
                "ids": list(message_ids),
                "from": sorted(UNCLAIM_FROM),
                "token": token,
                "unhand": unhand,
            },
        )
        returned = [row[0] for row in cursor.fetchall()]
        if returned:
            cursor.execute(
                """
                UPDATE broadcasts_message m SET status = %(cancelled)s
                  FROM broadcasts_broadcast b
                 WHERE m.id = ANY(%(ids)s) AND m.broadcast_id = b.id AND b.status = %(b_cancelled)s
                   AND m.status = %(queued)s AND NOT m.is_test
                """,
                {
                    "cancelled": M.CANCELLED,
                    "ids": returned,
                    "b_cancelled": Broadcast.Status.CANCELLED,
                    "queued": M.QUEUED,
                },
            )
    return returned


def unclaim(ids: list[int]) -> None:
    """Give claimed messages back untouched (nothing was sent): queued again, the attempt undone."""
    Message.objects.filter(pk__in=ids, status__in=UNCLAIM_FROM).update(
        status=M.QUEUED, attempts=F("attempts") - 1, lease_until=None
    )
