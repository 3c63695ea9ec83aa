"""Claiming messages to send: atomically, so no message is ever handed to a provider twice.

A claim is one transaction: `SELECT … FOR UPDATE SKIP LOCKED` of due messages, then one UPDATE to
`sending` with a lease, committed before any provider is called; two claimers never take the same
row. A message found in `sending` with an expired lease was either waiting for a retry (it carries
the last attempt's error) or in the hands of a worker that died (a claim clears the error, so
nothing else looks like that): only the latter is `recovering`, and only an idempotent connector
may send it again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .leases import MESSAGE_LEASE_MARGIN
from .models import Broadcast, Message
from .quiet_hours import next_allowed, number_zones
from .states import UNCLAIM_FROM, message_sources

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
    recovering: bool  # was `sending` with an expired lease and no pending retry: a worker died
    language: str = ""
    parameters: tuple[str, ...] = ()


def urn_path(urn: str) -> str:
    return urn.split(":", 1)[1] if ":" in urn else urn


def _claimed(row: tuple[Any, ...]) -> Claimed:
    mid, status, urn, _country, connector_name, text, cost, error_code, language, parameters, handed_at = row
    if isinstance(parameters, str):  # Django has psycopg load jsonb as text
        parameters = json.loads(parameters)
    params = tuple(str(p) for p in parameters) if isinstance(parameters, list) else ()
    # In a dead sender's hands and already handed to its provider: maybe delivered. One it never
    # handed over is simply sent, like any queued message.
    recovering = status == M.SENDING and not error_code and handed_at is not None
    return Claimed(mid, urn, connector_name, text, cost, recovering, language or "", params)


def _mark_sending(cursor: Any, ids: list[int], now: datetime) -> None:
    cursor.execute(
        """
        UPDATE broadcasts_message
           SET status = 'sending', attempts = attempts + 1, lease_until = %(lease)s, handed_at = NULL,
               queued_at = COALESCE(queued_at, %(now)s), error_code = '', error_message = ''
         WHERE id = ANY(%(ids)s)
        """,
        {"ids": ids, "now": now, "lease": now + timedelta(seconds=MESSAGE_LEASE_MARGIN)},
    )


def claim_batch(broadcast: Broadcast, *, limit: int, now: datetime) -> tuple[list[Claimed], int]:
    """Claim up to `limit` due messages of a broadcast. Returns (claimed, deferred by quiet hours)."""
    marketing = broadcast.purpose == Broadcast.Purpose.MARKETING
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {COLUMNS}
              FROM broadcasts_message
             WHERE broadcast_id = %(b)s AND NOT is_test
               AND status IN ('pending', 'queued', 'sending')  -- the partial index message_to_dispatch
               AND ((status = ANY(%(waiting)s) AND (not_before IS NULL OR not_before <= %(now)s))
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
            Message.objects.filter(pk__in=ids).update(not_before=allowed)
        for allowed, ids in retries_deferred.items():
            Message.objects.filter(pk__in=ids, status=M.SENDING).update(lease_until=allowed)
        if claimed:
            _mark_sending(cursor, [c.id for c in claimed], now)
    return claimed, sum(len(ids) for ids in deferred.values()) + sum(len(ids) for ids in retries_deferred.values())


def claim_tests(*, message_ids: list[int], now: datetime) -> list[Claimed]:
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
            _mark_sending(cursor, [c.id for c in claimed], now)
    return claimed


def mark_handed(ids: list[int]) -> None:
    """These messages go to the provider now: from here a crash leaves their fate unknown."""
    Message.objects.filter(pk__in=ids, status=M.SENDING).update(handed_at=timezone.now())


def unclaim(ids: list[int]) -> None:
    """Give claimed messages back untouched (nothing was sent): queued again, the attempt undone."""
    Message.objects.filter(pk__in=ids, status__in=UNCLAIM_FROM).update(
        status=M.QUEUED, attempts=F("attempts") - 1, lease_until=None
    )
