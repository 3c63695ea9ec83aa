"""Dispatch: claim due messages in batches, send them in paced request groups, record each group.

Guarantees (SPEC §10; the state machine of one message's send is in docs/broadcasts.md):
- A message is handed to a provider at most once unless its connector is idempotent. A claim is one
  transaction (`SELECT … FOR UPDATE SKIP LOCKED`, then `sending` under the dispatcher's token).
  Before each request group leaves, `claims.hand` marks it handed, write-ahead, in one statement
  that is also the fence: only messages still claimed under this token, only while this dispatcher
  holds the broadcast's lease and the broadcast is still sending. What it did not mark is not sent.
- A message handed before and never recorded (a worker died or stalled; a request whose answer
  never came) has an unknown outcome: sent again only through an idempotent connector, otherwise
  `failed` with `delivery_unknown`, not charged.
- Results are recorded per request group (≤ one second of the connector's tps, ≤ 100 messages), in
  a short transaction of their own with their capture and events, while the next group is already
  in flight: a provider id is stored within about a second of its answer, and a crash, a lost lease
  or a time limit loses at most the group in flight (whose messages then count as unknown).
- Pause and cancel take effect at the next group: after the API answers, at most the group in
  flight reaches the provider. A batch stops starting groups at its run's deadline and gives back
  what it did not send, so its duration fits the task's time limit; a soft time limit that strikes
  anyway waits for the group in flight, records it, and hands over to a continuation.
- Transient errors are retried with exponential backoff up to BROADCAST_MAX_RETRIES; permanent
  errors fail at once. After 50 consecutive failures the broadcast pauses itself with a reason.
- One dispatcher per broadcast at a time: a lease on the broadcast row, renewed by every group's
  handed mark. A dispatcher that stops early hands the lease to its own continuation by token, so
  beat's safety net (tasks.tick) restarts a broadcast only when its dispatcher really died.
- Money: each group captures the cost of the messages that left; messages that fail without
  leaving are released; the rest of the reservation is released at completion or cancel.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.interrupts import connection_recover, time_limit_behind

from . import billing, queue
from .claims import Claimed, claim_batch, claim_tests, give_back, unclaim
from .connectors import REGISTRY, BaseConnector, SendResult, build_connector
from .events import broadcast_completed_announce
from .leases import lease_acquire, lease_handover, lease_release
from .lock_objects import broadcast_for_update
from .models import Broadcast, Connector, DispatchLane, Message
from .recording import BatchOutcome, record_results
from .sending import GroupSender, add_outcomes, batch_rest
from .states import (
    ACTIVE_MESSAGE_STATUSES,
    DISPATCHABLE_BROADCAST,
    LEFT_STATUSES,
    TERMINAL_BROADCAST,
    completion_status,
)
from .transitions import broadcast_move
from .whatsapp_window import window_recheck

log = structlog.get_logger(__name__)

M = Message.Status
B = Broadcast.Status

RUN_SECONDS = 10.0
INLINE_WAIT_MAX = 2.0
MAX_CONTINUATION_DELAY = 30.0


def _pause_unreadable_connector(broadcast: Broadcast, claimed: list[Claimed], exc: Exception) -> None:
    """A connector whose config cannot be read (FIELD_ENCRYPTION_KEY changed) would fail forever:
    pause the broadcast with a reason an operator can act on, and send nothing."""
    names = ", ".join(sorted({m.connector for m in claimed}))
    reason = (
        f"Connector {names}: its config cannot be read ({exc}). Enter the connector's config again in the admin "
        "(or restore FIELD_ENCRYPTION_KEY), then resume."
    )[:255]
    with transaction.atomic():
        unclaim([m.id for m in claimed])
        paused = broadcast_move(broadcast.pk, "pause", B.PAUSED, pause_reason=reason, paused_at=timezone.now())
    if paused:
        log.error("broadcast.paused_connector_unreadable", broadcast_id=str(broadcast.pk), connectors=names)


def dispatch_batch(
    broadcast: Broadcast, *, token: str | None = None, deadline: float | None = None
) -> tuple[BatchOutcome, int]:
    """Claim and send one batch. Returns (outcome, number claimed).

    With `token` (a dispatcher holding the broadcast's lease) every group is fenced by that lease;
    without one (a test driving a batch by hand) by the claim's own token only. No group starts
    after `deadline` (time.monotonic()); what was claimed and not sent is given back."""
    claim_token = token or uuid.uuid4().hex
    limit = settings.BROADCAST_BATCH_SIZE
    claimed, deferred = claim_batch(broadcast, limit=limit, now=timezone.now(), token=claim_token)
    if claimed and len(claimed) + deferred >= limit:  # more may be due: a batch of whole groups
        found = Connector.objects.filter(name__in={m.connector for m in claimed}).values_list("name", "backend", "tps")
        rest = batch_rest(claimed, {name: (backend, tps) for name, backend, tps in found})
        if rest:
            more, more_deferred = claim_batch(broadcast, limit=rest, now=timezone.now(), token=claim_token)
            claimed, deferred = claimed + more, deferred + more_deferred
    if not claimed:
        return BatchOutcome(0, 0, 0, deferred), 0
    outcome = send_claimed(broadcast, claimed, token=claim_token, leased=token is not None, deadline=deadline)
    log.info(
        "broadcast.batch",
        broadcast_id=str(broadcast.pk),
        sent=outcome.sent,
        failed=outcome.failed,
        retrying=outcome.retrying,
        deferred=deferred,
    )
    return BatchOutcome(outcome.sent, outcome.failed, outcome.retrying, deferred), len(claimed)


def send_tests(*, broadcast_id: uuid.UUID | str, message_ids: list[int]) -> int:
    """Send test messages through the same path as the broadcast's own (claim → hand → send →
    record): retried the same way, failed or released the same way, and never twice."""
    token = uuid.uuid4().hex
    claimed = claim_tests(message_ids=message_ids, now=timezone.now(), token=token)
    if not claimed:
        return 0
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    outcome = send_claimed(broadcast, claimed, token=token, leased=False, is_test=True)
    tests_settle(broadcast_id=broadcast.pk)
    return outcome.sent


def tests_settle(*, broadcast_id: uuid.UUID | str) -> None:
    """Test sends just recorded: if the broadcast finished (or was cancelled) while they were at the
    provider, its finalize left their share held, which is released now that they are done.

    The status is read under the broadcast's row lock. Unlocked, a cancel whose finalize still saw
    these `sending` (so kept their share) but had not committed yet would read as the old status
    here, and neither side would release the rest: the reservation held for good. Locked, this waits
    for that cancel's commit and sees it; a cancel that locks after this sees them recorded."""
    with transaction.atomic():
        terminal = broadcast_for_update(broadcast_id).status in TERMINAL_BROADCAST
    if terminal:
        broadcast_finalize(broadcast_id=broadcast_id)


def _unusable(message: Claimed, code: str, text: str) -> SendResult:
    return SendResult(message.id, False, error_code=code, error_message=text)


def send_claimed(
    broadcast: Broadcast,
    claimed: list[Claimed],
    *,
    token: str,
    leased: bool,
    is_test: bool = False,
    deadline: float | None = None,
) -> BatchOutcome:
    """Send claimed messages through their connectors in paced request groups, recording each
    group as it is answered. Messages not sent (a pause, a cancel, a lost lease, the deadline) are
    given back. WhatsApp free text outside its window by now is skipped instead (whatsapp_window.py);
    a test send was planned a moment ago, and goes."""
    if not is_test:
        claimed = window_recheck(broadcast=broadcast, claimed=claimed, token=token, now=timezone.now())
        if not claimed:
            return BatchOutcome(0, 0, 0, 0)
    try:
        connectors = {c.name: c for c in Connector.objects.filter(name__in={m.connector for m in claimed})}
    except ValueError as exc:  # EncryptedJSONField: the config cannot be decrypted
        if not is_test:
            _pause_unreadable_connector(broadcast, claimed, exc)
            return BatchOutcome(0, 0, 0, 0)
        connectors = {}
    by_id = {m.id: m for m in claimed}
    unusable: list[SendResult] = []
    groups: dict[str, list[Claimed]] = defaultdict(list)
    plugins: dict[str, BaseConnector] = {}
    for message in claimed:
        connector = connectors.get(message.connector)
        if connector is None or not connector.active or connector.backend not in REGISTRY:
            text = f"Connector '{message.connector}' is missing, inactive or unreadable."
            unusable.append(_unusable(message, "connector_unavailable", text))
            continue
        if connector.client_id is not None and connector.client_id != broadcast.client_id:
            # Another tenant's own connector (SPEC §10): pricing never routes there; this guards a
            # route edited since the broadcast was planned, so their account never carries it.
            text = f"Connector '{message.connector}' belongs to another client."
            unusable.append(_unusable(message, "connector_not_allowed", text))
            continue
        plugin = plugins.get(message.connector) or plugins.setdefault(message.connector, build_connector(connector))
        if message.recovering and not plugin.idempotent:
            text = "Handed to the provider before, with no answer recorded; not resent."
            unusable.append(_unusable(message, "delivery_unknown", text))
        else:
            groups[message.connector].append(message)
    total = BatchOutcome(0, 0, 0, 0)
    if unusable:
        total = record_results(broadcast, unusable, by_id, connectors, token=token, count_streak=False)
    sender = GroupSender(broadcast, by_id, connectors, token=token, leased=leased, is_test=is_test)
    for name, messages in groups.items():
        if sender.stopped:
            give_back(message_ids=[m.id for m in messages], token=token)
            continue
        total = add_outcomes(total, sender.send(connectors[name], plugins[name], messages, deadline=deadline))
    return total


def next_due_at(broadcast_id: uuid.UUID | str) -> datetime | None:
    """When the next message of the broadcast becomes sendable (None: nothing left to send)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT MIN(CASE WHEN status = 'sending' THEN lease_until
                            -- an A/B test's rest: due when decided; looked at again every 30 s past its time
                            WHEN wait_reason = 'ab_test' THEN GREATEST(not_before, clock_timestamp() + interval '30 s')
                            ELSE COALESCE(not_before, clock_timestamp()) END)
              FROM broadcasts_message
             WHERE broadcast_id = %s AND NOT is_test AND status IN ('pending', 'queued', 'sending')
            """,
            [broadcast_id],
        )
        row = cursor.fetchone()
    value = row[0] if row else None
    if value is None:
        return None
    if isinstance(value, datetime) and value.year < 2:
        return timezone.now()
    return value if isinstance(value, datetime) else None


# --- completion --------------------------------------------------------------------------------


def broadcast_finalize(*, broadcast_id: uuid.UUID | str) -> Broadcast:
    """Complete a broadcast with nothing left to send, and release what is left of its reservation."""
    with transaction.atomic():
        broadcast = broadcast_for_update(broadcast_id)
        messages = Message.objects.filter(broadcast_id=broadcast_id, is_test=False)
        counts = dict(messages.values_list("status").annotate(n=Count("id")).order_by().values_list("status", "n"))
        active = sum(counts.get(s, 0) for s in ACTIVE_MESSAGE_STATUSES)
        # A broadcast still being prepared has more messages coming: it completes after them.
        if broadcast.status in DISPATCHABLE_BROADCAST and active == 0 and not broadcast.preparing:
            # The outcome of dispatch: did messages leave? A failure reported later by the provider
            # is a delivery outcome (stats, refund), so the status does not depend on report timing.
            left = messages.filter(sent_at__isnull=False).count()
            never_left = messages.filter(status=M.FAILED, sent_at__isnull=True).count()
            status = completion_status(left=left, failed=never_left)
            completed = broadcast_move(
                broadcast.pk,
                "complete",
                status,
                completed_at=timezone.now(),
                dispatch_lease_until=None,
                dispatch_token="",
            )
            if completed:
                broadcast.status = status
                spent = messages.filter(status__in=LEFT_STATUSES).aggregate(total=Sum("cost"))["total"]
                broadcast_completed_announce(
                    broadcast=broadcast, counts=counts, cost=spent or Decimal(0), completed_at=timezone.now()
                )
                log.info("broadcast.completed", broadcast_id=str(broadcast.pk), status=status)
        in_flight = counts.get(M.SENDING, 0)
        # Test sends share the broadcast's reservation: what they hold stays until they are done.
        tests_waiting = Message.objects.filter(
            broadcast_id=broadcast_id, is_test=True, status__in=[M.QUEUED, M.SENDING]
        ).exists()
        if broadcast.status in TERMINAL_BROADCAST:
            # Helper lanes stop at their next group (claims.hand): their lease rows go now.
            DispatchLane.objects.filter(broadcast_id=broadcast_id).delete()
            if in_flight == 0 and not tests_waiting:
                billing.release_rest(broadcast_id=broadcast.pk)
    broadcast.refresh_from_db()
    return broadcast


# --- the run loop (the Celery task's body) -----------------------------------------------------


def dispatch_run(*, broadcast_id: str, token: str | None = None, lane: int = 0) -> tuple[str, float] | None:
    """Dispatch for up to RUN_SECONDS. Returns (continuation token, delay) when more work waits.

    Lane 0 is the broadcast's dispatcher: it starts the broadcast, waits for messages due later,
    and completes it. While it claims full batches it starts helper lanes (leases.py, "Lanes"):
    each sends what is due alongside it, then stops, finishing the broadcast if it sent the last."""
    held = lease_acquire(broadcast_id=broadcast_id, token=token, lane=lane)
    if held is None:
        return None
    deadline = time.monotonic() + RUN_SECONDS
    helpers_started = False
    try:
        if not lane:
            broadcast_move(broadcast_id, "dispatch", B.SENDING, started_at=timezone.now())
        while True:
            broadcast = Broadcast.objects.get(pk=broadcast_id)
            if broadcast.status not in DISPATCHABLE_BROADCAST:
                broadcast_finalize(broadcast_id=broadcast_id)
                lease_release(broadcast_id=broadcast_id, token=held, lane=lane)
                return None
            _outcome, claimed = dispatch_batch(broadcast, token=held, deadline=deadline)
            if claimed:
                if not lane and not helpers_started and claimed >= settings.BROADCAST_BATCH_SIZE:
                    helpers_started = True  # once per run: a helper that died is started again
                    start_helpers(broadcast_id)
                if settings.BROADCAST_BATCH_DELAY > 0:
                    if time.monotonic() + settings.BROADCAST_BATCH_DELAY > deadline:
                        return _continue(broadcast_id, held, settings.BROADCAST_BATCH_DELAY, lane)
                    time.sleep(settings.BROADCAST_BATCH_DELAY)
                if time.monotonic() > deadline:
                    return _continue(broadcast_id, held, 0, lane)
                continue
            due = next_due_at(broadcast_id)
            if lane or (due is None and broadcast.preparing):
                # A helper leaves the waits (and what other lanes hold) to lane 0. Lane 0 sent all
                # there is so far: each prepared chunk enqueues it again.
                lease_release(broadcast_id=broadcast_id, token=held, lane=lane)
                if due is None and not broadcast.preparing:
                    broadcast_finalize(broadcast_id=broadcast_id)
                return None
            if due is None:
                broadcast_finalize(broadcast_id=broadcast_id)
                lease_release(broadcast_id=broadcast_id, token=held)
                return None
            wait = max(0.0, (due - timezone.now()).total_seconds())
            if wait <= INLINE_WAIT_MAX and time.monotonic() + wait < deadline:
                time.sleep(max(wait, 0.01))
                continue
            return _continue(broadcast_id, held, min(wait, MAX_CONTINUATION_DELAY))
    except Exception as exc:
        if not time_limit_behind(exc):  # (a COMMIT it cut comes out as Django's ProgrammingError)
            lease_release(broadcast_id=broadcast_id, token=held, lane=lane)
            raise
        # The batch recorded its group in flight and gave back the rest: a continuation goes on.
        log.warning("broadcast.soft_time_limit", broadcast_id=broadcast_id, lane=lane)
        connection_recover()  # it may have struck outside the batch, mid-statement or mid-COMMIT
        return _continue(broadcast_id, held, 0, lane)
    except BaseException:
        lease_release(broadcast_id=broadcast_id, token=held, lane=lane)
        raise


def start_helpers(broadcast_id: str) -> int:
    """Start the helper lanes that are not running (BROADCAST_DISPATCH_LANES in all). Each lane's
    lease is taken here, for the queue's wait, and handed to its task by token. Returns how many."""
    started = 0
    for lane in range(1, settings.BROADCAST_DISPATCH_LANES):
        lane_token = lease_acquire(broadcast_id=broadcast_id, token=None, lane=lane)
        if lane_token is not None:
            queue.dispatch(broadcast_id, lane_token, lane=lane)
            started += 1
    return started


def _continue(broadcast_id: str, token: str, delay: float, lane: int = 0) -> tuple[str, float] | None:
    wake_at = timezone.now() + timedelta(seconds=delay)
    next_token = lease_handover(broadcast_id=broadcast_id, token=token, wake_at=wake_at, lane=lane)
    if next_token is None:
        # The lease was taken from us: a cancel (or pause) cleared it while this batch was in the
        # provider's hands, and its settlement had to leave those messages' credit held. They are
        # recorded now, so settle: complete if done, release what is left once nothing is in flight.
        broadcast_finalize(broadcast_id=broadcast_id)
        return None
    return next_token, delay


def ceil_seconds(value: float) -> int:
    return max(0, math.ceil(value))
