"""Lifecycle actions on accepted broadcasts (cancel, pause, resume, retry-failed, test) and beat's tick.

Each action is a conditional UPDATE from the statuses states.ACTIONS allows; of two concurrent
actions one wins and the other gets a 409. The dispatcher reads the broadcast's status before every
batch, so a pause or cancel takes effect at the next batch; messages already handed to a provider
finish and are accounted for.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.exceptions import ConflictError
from contacts import phones
from contacts.selectors import contacts_by_phones
from wallets.services import wallet_reserve

from .audience import Target, channel_urn
from .dispatch import broadcast_finalize, send_tests
from .models import Broadcast, Message
from .planning import Planner
from .services import client_wallet, plan_context, request_data, reserve_after_checks
from .states import ACTIONS, DISPATCHABLE_BROADCAST, RETRY_FROM, message_sources
from .validation import parse_broadcast_request

log = structlog.get_logger(__name__)

B = Broadcast.Status
M = Message.Status
MAX_TEST_RECIPIENTS = 10


def _transition(broadcast: Broadcast, action: str, to: str, **updates: Any) -> Broadcast:
    spec = ACTIONS[action]
    changed = Broadcast.objects.filter(pk=broadcast.pk, status__in=spec.sources).update(
        status=to, updated_at=timezone.now(), **updates
    )
    if not changed:
        current = Broadcast.objects.filter(pk=broadcast.pk).values_list("status", flat=True).first()
        raise ConflictError(f"{spec.describe} This one is {current}.")
    broadcast.refresh_from_db()
    return broadcast


def _kick(broadcast: Broadcast) -> None:
    from .tasks import dispatch_broadcast

    broadcast_id = str(broadcast.pk)
    transaction.on_commit(lambda: dispatch_broadcast.delay(broadcast_id))


def broadcast_cancel(*, broadcast: Broadcast) -> Broadcast:
    """Stop for good: waiting messages are cancelled; the credit they held goes back to the wallet."""
    now = timezone.now()
    with transaction.atomic():
        _transition(broadcast, "cancel", B.CANCELLED, cancelled_at=now, dispatch_lease_until=None, dispatch_token="")
        Message.objects.filter(broadcast=broadcast, is_test=False, status__in=message_sources(M.CANCELLED)).update(
            status=M.CANCELLED
        )
        # Messages waiting for a retry are not in any provider's hands: they end here too.
        Message.objects.filter(broadcast=broadcast, is_test=False, status=M.SENDING).exclude(error_code="").update(
            status=M.FAILED, failed_at=now, error_code="cancelled", lease_until=None
        )
        # In the same transaction: a crash here must not leave the credit held with nothing to free it.
        broadcast = broadcast_finalize(broadcast_id=broadcast.pk)
    log.info("broadcast.cancelled", broadcast_id=str(broadcast.pk))
    return broadcast


def broadcast_pause(*, broadcast: Broadcast, reason: str = "") -> Broadcast:
    broadcast = _transition(broadcast, "pause", B.PAUSED, paused_at=timezone.now(), pause_reason=reason[:255])
    log.info("broadcast.paused", broadcast_id=str(broadcast.pk))
    return broadcast


def broadcast_resume(*, broadcast: Broadcast) -> Broadcast:
    """Back in the queue. A drip's remaining slots move by the time it was paused, keeping its pace."""
    now = timezone.now()
    with transaction.atomic():
        paused_at = Broadcast.objects.filter(pk=broadcast.pk).values_list("paused_at", flat=True).first()
        _transition(broadcast, "resume", B.QUEUED, paused_at=None, pause_reason="", consecutive_failures=0)
        if broadcast.schedule_mode == Broadcast.ScheduleMode.DRIP and paused_at is not None:
            Message.objects.filter(
                broadcast=broadcast, is_test=False, status__in=[M.PENDING, M.QUEUED], not_before__isnull=False
            ).update(not_before=F("not_before") + (now - paused_at))
        _kick(broadcast)
    log.info("broadcast.resumed", broadcast_id=str(broadcast.pk))
    return broadcast


def broadcast_retry_failed(*, broadcast: Broadcast) -> Broadcast:
    """Send the failed messages again (never one that was delivered), reserving their cost anew."""
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status not in ACTIONS["retry"].sources:
            raise ConflictError(f"{ACTIONS['retry'].describe} This one is {locked.status}.")
        # The very messages reserved for are the ones requeued: locked and fixed by id, so a failure
        # report arriving meanwhile cannot add one that was not paid for.
        rows = list(
            Message.objects.select_for_update()
            .filter(broadcast=locked, is_test=False, status__in=RETRY_FROM)
            .order_by("pk")
            .values_list("pk", "cost")
        )
        count = len(rows)
        if count == 0:
            raise ConflictError("This broadcast has no failed messages to retry.", code="nothing_to_retry")
        cost = sum((c for _, c in rows), Decimal(0))
        if cost > 0:
            wallet_reserve(
                wallet=client_wallet(locked.client),
                amount=cost,
                broadcast_id=locked.pk,
                note=f"Retry of {count} message(s)",
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
        )
        _transition(locked, "retry", B.QUEUED, completed_at=None, consecutive_failures=0, pause_reason="")
        _kick(locked)
    log.info("broadcast.retry_failed", broadcast_id=str(broadcast.pk), messages=count)
    locked.refresh_from_db()
    return locked


# --- test sends -----------------------------------------------------------------------------------


def broadcast_test(*, broadcast: Broadcast, recipients: Any) -> list[Message]:
    """Send the rendered message to a few numbers now, outside the broadcast's stats."""
    if not isinstance(recipients, list) or not recipients:
        raise ValidationError({"recipients": ["Give a list of 1 to 10 phone numbers or URNs."]})
    if len(recipients) > MAX_TEST_RECIPIENTS:
        raise ValidationError({"recipients": [f"At most {MAX_TEST_RECIPIENTS} test recipients."]})
    if broadcast.status == B.CANCELLED:
        raise ConflictError("A cancelled broadcast cannot be tested.")
    client = broadcast.client
    errors: dict[str, list[str]] = {}
    targets: list[Target] = []
    for index, value in enumerate(recipients):
        try:
            urn = phones.parse_urn(value, client.country)
        except (phones.AddressError, TypeError):
            errors[f"recipients.{index}"] = [f"'{value}' is not a valid phone number or URN."]
            continue
        resolved = channel_urn(broadcast.channel, urn)
        if resolved is None:
            errors[f"recipients.{index}"] = [f"'{value}' cannot be reached on {broadcast.channel}."]
            continue
        targets.append(Target(urn=resolved[0], address=resolved[1]))
    if errors:
        raise ValidationError(errors)
    contacts = contacts_by_phones(client=client, phones=[t.address for t in targets if t.address.startswith("+")])
    for target in targets:
        contact = contacts.get(target.address)
        if contact is not None:
            target.fill_from(contact)
            target.opted_out = False  # a test send goes to whoever the sender chose
    data = request_data(broadcast)
    data["schedule_mode"] = Broadcast.ScheduleMode.NOW
    data.pop("scheduled_at", None)
    data.pop("drip_rate", None)
    request = parse_broadcast_request(data)
    context, _ = plan_context(client=client, request=request, now=timezone.now())
    planner = Planner(context)
    rows = planner.plan_chunk(targets)
    unroutable = [r.urn for r in rows if r.status == M.SKIPPED]
    if unroutable:
        raise ValidationError({"recipients": [f"No route for: {', '.join(unroutable)}."]})
    now = timezone.now()
    total = sum((r.cost for r in rows), Decimal(0))
    with transaction.atomic():
        messages = Message.objects.bulk_create(
            Message(
                broadcast=broadcast, client=client, contact_id=r.contact_id, urn=r.urn, channel=broadcast.channel,
                text=r.text, encoding=r.encoding, segments=r.segments, cost=r.cost, route_code=r.route_code,
                connector=r.connector, country_code=r.country_code, status=M.QUEUED, is_test=True, queued_at=now,
            )
            for r in rows
        )  # fmt: skip
        if total > 0:
            reserve_after_checks(wallet=context.wallet, amount=total, broadcast_id=broadcast.pk, note="Test send")
    ids = [m.pk for m in messages]
    transaction.on_commit(lambda: _send_tests_later(str(broadcast.pk), ids))
    log.info("broadcast.test_sent", broadcast_id=str(broadcast.pk), recipients=len(ids))
    return messages


def _send_tests_later(broadcast_id: str, ids: list[int]) -> None:
    from .tasks import send_test_messages

    send_test_messages.delay(broadcast_id, ids)


def send_test_messages(*, broadcast_id: str, message_ids: list[int]) -> int:
    """Send test messages: the broadcast's own send path (dispatch.send_tests)."""
    return send_tests(broadcast_id=broadcast_id, message_ids=message_ids)


# --- beat ---------------------------------------------------------------------------------------


def broadcasts_tick() -> dict[str, int]:
    """Start scheduled broadcasts that are due; restart dispatchers whose lease ran out; settle
    cancelled broadcasts left with messages a dead worker was sending. Safe to run concurrently
    with itself (two beats by mistake): every step is a conditional update."""
    from .tasks import dispatch_broadcast

    now = timezone.now()
    started = 0
    for broadcast_id in Broadcast.objects.filter(status=B.SCHEDULED, scheduled_at__lte=now).values_list(
        "pk", flat=True
    ):
        won = Broadcast.objects.filter(pk=broadcast_id, status=B.SCHEDULED).update(status=B.QUEUED, updated_at=now)
        if won:
            started += 1
            log.info("broadcast.started", broadcast_id=str(broadcast_id))
            dispatch_broadcast.delay(str(broadcast_id))
    restarted = 0
    stale = Broadcast.objects.filter(status__in=DISPATCHABLE_BROADCAST).filter(
        Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now)
    )
    for broadcast_id in stale.values_list("pk", flat=True):
        restarted += 1
        dispatch_broadcast.delay(str(broadcast_id))
    settled = 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE broadcasts_message m
               SET status = 'failed', failed_at = %(now)s, error_code = 'delivery_unknown', lease_until = NULL
              FROM broadcasts_broadcast b
             WHERE m.broadcast_id = b.id AND b.status = 'cancelled' AND m.status = 'sending'
               AND m.lease_until < %(now)s
         RETURNING m.broadcast_id
            """,
            {"now": now},
        )
        cancelled_ids = {row[0] for row in cursor.fetchall()}
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
        _send_tests_later(test_broadcast_id, ids)
    return {"started": started, "restarted": restarted, "settled": settled, "tests_requeued": len(by_broadcast)}
