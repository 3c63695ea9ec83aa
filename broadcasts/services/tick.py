"""Beat's tick: start scheduled broadcasts that are due, restart dispatchers that died, settle what
dead workers left behind, fold the counters' delta rows."""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from webhooks.events import MESSAGE_FAILED

from .. import queue
from ..counters import counts_fold
from ..dispatch import broadcast_finalize
from ..events import EVENT_COLUMNS, messages_announce
from ..models import Broadcast, Message
from ..states import DISPATCHABLE_BROADCAST
from ..status_updates import early_reports_sweep
from ..transitions import broadcast_move

log = structlog.get_logger(__name__)

B = Broadcast.Status
M = Message.Status


def broadcasts_tick() -> dict[str, int]:
    """Start scheduled broadcasts that are due; restart dispatchers whose lease ran out; settle
    cancelled broadcasts left with messages a dead worker was sending. Safe to run concurrently
    with itself (two beats by mistake): every step is a conditional update."""
    now = timezone.now()
    started = 0
    for broadcast_id in Broadcast.objects.filter(status=B.SCHEDULED, scheduled_at__lte=now).values_list(
        "pk", flat=True
    ):
        if broadcast_move(broadcast_id, "start", B.QUEUED):
            started += 1
            log.info("broadcast.started", broadcast_id=str(broadcast_id))
            queue.dispatch(broadcast_id)
    restarted = 0
    stale = Broadcast.objects.filter(status__in=DISPATCHABLE_BROADCAST).filter(
        Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now)
    )
    for broadcast_id in stale.values_list("pk", flat=True):
        restarted += 1
        queue.dispatch(broadcast_id)
    settled = 0
    with connection.cursor() as cursor:
        # Cancelled broadcasts with messages a dead (or stalled) dispatcher held: one never handed
        # over is cancelled (it never left: moved as a give-back and a cancel would move it); one
        # handed over has an unknown outcome: failed `delivery_unknown`, not charged, announced.
        cursor.execute(
            """
            UPDATE broadcasts_message m SET status = %(cancelled)s, lease_until = NULL
              FROM broadcasts_broadcast b
             WHERE m.broadcast_id = b.id AND b.status = %(b_cancelled)s AND m.status = %(sending)s
               AND m.lease_until < %(now)s AND m.handed_at IS NULL AND NOT m.is_test
         RETURNING m.broadcast_id
            """,
            {"now": now, "cancelled": M.CANCELLED, "b_cancelled": B.CANCELLED, "sending": M.SENDING},
        )
        cancelled_ids = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            f"""
            UPDATE broadcasts_message m
               SET status = %(failed)s, failed_at = %(now)s, error_code = 'delivery_unknown', lease_until = NULL,
                   error_message = 'Handed to the provider by a dispatcher that stopped; outcome unknown.'
              FROM broadcasts_broadcast b
             WHERE m.broadcast_id = b.id AND b.status = %(b_cancelled)s AND m.status = %(sending)s
               AND m.lease_until < %(now)s AND m.handed_at IS NOT NULL AND NOT m.is_test
         RETURNING {EVENT_COLUMNS}
            """,  # noqa: S608 - EVENT_COLUMNS is a constant
            {"now": now, "failed": M.FAILED, "b_cancelled": B.CANCELLED, "sending": M.SENDING},
        )
        unknown = cursor.fetchall()
        messages_announce(MESSAGE_FAILED, unknown)
        cancelled_ids |= {row[2] for row in unknown}
    for broadcast_id in cancelled_ids:
        broadcast_finalize(broadcast_id=broadcast_id)
        settled += 1
    # Test sends whose task was lost (broker down at the time), whose retry is due, or whose sender
    # died: send them again. A claim takes each message once, so a late original task and this one
    # never both send, and a dead sender's message goes again only to an idempotent connector.
    stuck_tests = (
        Message.objects.filter(is_test=True)
        .filter(Q(status=M.QUEUED, queued_at__lt=now - timedelta(minutes=2)) | Q(status=M.SENDING, lease_until__lt=now))
        .values_list("broadcast_id", "pk")
        .order_by("broadcast_id")
    )
    by_broadcast: dict[str, list[int]] = {}
    for test_broadcast, message_id in stuck_tests:
        by_broadcast.setdefault(str(test_broadcast), []).append(message_id)
    for test_broadcast_id, ids in by_broadcast.items():
        queue.send_tests(test_broadcast_id, ids)
    # Preparations whose task was lost or whose worker died go on (one preparer per broadcast: a
    # duplicate returns at once).
    preparing = Broadcast.objects.filter(preparing=True, status__in=[*DISPATCHABLE_BROADCAST, B.SCHEDULED])
    for broadcast_id in preparing.values_list("pk", flat=True):
        queue.prepare(broadcast_id)
    # Delivery reports that raced ahead of their send's record and were not applied by it.
    early_applied, early_dropped = early_reports_sweep(now=now)
    # The counters' delta rows, folded into one per broadcast, so a read stays a few rows.
    folded = counts_fold()
    return {
        "started": started,
        "restarted": restarted,
        "settled": settled,
        "tests_requeued": len(by_broadcast),
        "counters_folded": folded,
        "early_reports_applied": early_applied,
        "early_reports_dropped": early_dropped,
    }
