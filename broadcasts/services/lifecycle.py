"""A user's actions on an accepted broadcast: cancel, pause, resume, retry-failed.

Each is a conditional move over states.ACTIONS (transitions.py); of two concurrent actions one wins
and the other gets a 409. The dispatcher reads the broadcast's status before every batch, so a pause
or cancel takes effect at the next batch; messages already handed to a provider finish and are
accounted for.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import ngettext

from accounts.exceptions import ConflictError
from wallets.services import wallet_reserve
from webhooks.events import MESSAGE_FAILED

from .. import queue
from ..dispatch import broadcast_finalize
from ..events import EVENT_COLUMNS, messages_announce
from ..lock_objects import broadcast_for_action, messages_for_update
from ..models import Broadcast, Message
from ..states import RETRY_FROM, message_sources
from ..transitions import broadcast_transition
from .context import client_wallet
from .recurring import is_series, series_cancel, series_pause, series_resume

log = structlog.get_logger(__name__)

B = Broadcast.Status
M = Message.Status
UNKNOWN_OUTCOME = "delivery_unknown"  # SPEC §10: the request left and no complete answer came back


def broadcast_cancel(*, broadcast: Broadcast) -> Broadcast:
    """Stop for good: waiting messages are cancelled; the credit they held goes back to the wallet."""
    if is_series(broadcast):
        return series_cancel(series=broadcast)
    now = timezone.now()
    with transaction.atomic():
        # A preparation in progress stops at its next chunk (preparing is cleared here).
        broadcast_transition(
            broadcast,
            "cancel",
            B.CANCELLED,
            cancelled_at=now,
            dispatch_lease_until=None,
            dispatch_token="",
            preparing=False,
        )
        Message.objects.filter(broadcast=broadcast, is_test=False, status__in=message_sources(M.CANCELLED)).update(
            status=M.CANCELLED
        )
        # Messages waiting for a retry are not in any provider's hands: they end here too, failed
        # (and announced as such, like every move to failed). Claimed messages without an error are
        # a dispatcher's: it stops at its next group and gives back what it did not send.
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE broadcasts_message m
                   SET status = %(failed)s, failed_at = %(now)s, error_code = 'cancelled', lease_until = NULL
                 WHERE m.broadcast_id = %(b)s AND NOT m.is_test AND m.status = %(sending)s AND m.error_code <> ''
             RETURNING {EVENT_COLUMNS}
                """,  # noqa: S608 - EVENT_COLUMNS is a constant
                {"failed": M.FAILED, "now": now, "b": broadcast.pk, "sending": M.SENDING},
            )
            messages_announce(MESSAGE_FAILED, cursor.fetchall())
        # In the same transaction: a crash here must not leave the credit held with nothing to free it.
        broadcast = broadcast_finalize(broadcast_id=broadcast.pk)
    log.info("broadcast.cancelled", broadcast_id=str(broadcast.pk))
    return broadcast


def broadcast_pause(*, broadcast: Broadcast, reason: str = "") -> Broadcast:
    if is_series(broadcast):
        return series_pause(series=broadcast)
    broadcast = broadcast_transition(broadcast, "pause", B.PAUSED, paused_at=timezone.now(), pause_reason=reason[:255])
    log.info("broadcast.paused", broadcast_id=str(broadcast.pk))
    return broadcast


def broadcast_resume(*, broadcast: Broadcast) -> Broadcast:
    """Back in the queue. A drip's remaining slots move by the time it was paused, keeping its pace."""
    if is_series(broadcast):
        return series_resume(series=broadcast)
    now = timezone.now()
    with transaction.atomic():
        paused_at = Broadcast.objects.filter(pk=broadcast.pk).values_list("paused_at", flat=True).first()
        broadcast_transition(broadcast, "resume", B.QUEUED, paused_at=None, pause_reason="", consecutive_failures=0)
        if broadcast.schedule_mode == Broadcast.ScheduleMode.DRIP and paused_at is not None:
            Message.objects.filter(
                broadcast=broadcast, is_test=False, status__in=[M.PENDING, M.QUEUED], not_before__isnull=False
            ).update(not_before=F("not_before") + (now - paused_at))
        queue.dispatch_on_commit(broadcast.pk)
        if broadcast.preparing:  # paused mid-preparation (insufficient_credit): it goes on
            queue.prepare_on_commit(broadcast.pk)
    log.info("broadcast.resumed", broadcast_id=str(broadcast.pk))
    return broadcast


def broadcast_retry_failed(*, broadcast: Broadcast, include_unknown: bool = False) -> Broadcast:
    """Send the failed messages again (never one that was delivered), reserving their cost anew.

    A message whose outcome is unknown (`delivery_unknown`: it may have reached its recipient) is
    left alone unless `include_unknown`: then the caller accepts that it may arrive twice."""
    with transaction.atomic():
        locked = broadcast_for_action(broadcast, "retry")
        # The very messages reserved for are the ones requeued: locked and fixed by id, so a failure
        # report arriving meanwhile cannot add one that was not paid for.
        failed = Message.objects.filter(broadcast=locked, is_test=False, status__in=RETRY_FROM)
        if not include_unknown:
            failed = failed.exclude(error_code=UNKNOWN_OUTCOME)
        rows = list(messages_for_update(failed).values_list("pk", "cost"))
        count = len(rows)
        if count == 0:
            unknown = "" if include_unknown else ' (messages whose outcome is unknown need "include_unknown": true)'
            raise ConflictError(f"This broadcast has no failed messages to retry{unknown}.", code="nothing_to_retry")
        cost = sum((c for _, c in rows), Decimal(0))
        if cost > 0:
            wallet_reserve(
                wallet=client_wallet(locked.client),
                amount=cost,
                broadcast_id=locked.pk,
                note=ngettext("Retry of %(count)d message", "Retry of %(count)d messages", count) % {"count": count},
            )
        # The one move back the state machine allows, and only from `failed` (states.RETRY_FROM). A
        # retried message starts over: no trace of the attempt that failed (sent_at included).
        Message.objects.filter(pk__in=[pk for pk, _ in rows], status__in=RETRY_FROM).update(
            status=M.QUEUED,
            queued_at=timezone.now(),
            sent_at=None,
            delivered_at=None,
            read_at=None,
            failed_at=None,
            error_code="",
            error_message="",
            attempts=0,
            provider_message_id=None,
            lease_until=None,
            not_before=None,
            # A new attempt the user asked for: the last one's handed mark no longer says anything.
            handed_at=None,
            claim_token="",
        )
        broadcast_transition(locked, "retry", B.QUEUED, completed_at=None, consecutive_failures=0, pause_reason="")
        queue.dispatch_on_commit(locked.pk)
    log.info("broadcast.retry_failed", broadcast_id=str(broadcast.pk), messages=count)
    locked.refresh_from_db()
    return locked
