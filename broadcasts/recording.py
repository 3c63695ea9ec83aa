"""Recording what providers answered for a request group: statuses, money, the failure breaker,
follow-ups.

One short transaction per request group (≤ one second of the connector's tps, ≤ 100 messages), as
soon as its answers are in: accepted messages become `sent` (captured from the reservation) and the
delivery reports that arrived before their provider id was known are applied; those failed are
released; transient errors wait for a retry with exponential backoff (or longer, when the provider
asked with Retry-After). Every move is conditional on `sending` under the claim's token, so a result
never overwrites what another actor decided meanwhile, and a dispatcher that lost its claim records
nothing (nor captures anything). Then the follow-ups a plugin asked for: delivered at once
(Telegram), contacts opted out (Twilio 21610, Telegram 403).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from accounts import metrics
from accounts.sql_values import int_array, rows_by_id
from contacts.models import OptOutSource
from contacts.services import contacts_opt_out_by_ids
from wallets.models import Wallet
from webhooks.events import MESSAGE_FAILED, MESSAGE_SENT

from . import billing, queue
from .claims import Claimed
from .connectors import SendResult, StatusUpdate, build_connector
from .events import messages_announce_ids
from .models import Broadcast, Connector, Message
from .states import WAIT_RETRY
from .status_updates import early_reports_apply, messages_apply_status
from .transitions import broadcast_move

log = structlog.get_logger(__name__)

M = Message.Status
B = Broadcast.Status

CONSECUTIVE_FAILURE_LIMIT = 50
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 300
# A record rolled back by a deadlock (40P01) or a serialization failure (40001) is written again.
CONFLICT_ATTEMPTS = 3
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})

T = TypeVar("T")


@dataclass(frozen=True)
class BatchOutcome:
    sent: int
    failed: int
    retrying: int
    deferred: int


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: 5 s, 10 s, 20 s … capped at 5 minutes."""
    base = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return base * (0.8 + 0.4 * random.random())  # noqa: S311 - jitter, not security


def retry_delay(result: SendResult, attempts: int) -> float:
    """Backoff, or longer when the provider asked for more (Retry-After), capped at the maximum."""
    delay = backoff_seconds(attempts)
    if result.retry_after:
        delay = max(delay, min(float(result.retry_after), BACKOFF_MAX_SECONDS * 4))
    return delay


def record_results(
    broadcast: Broadcast,
    results: list[SendResult],
    claimed: dict[int, Claimed],
    connectors: dict[str, Connector],
    *,
    token: str,
    count_streak: bool = True,
    answered: set[int] | None = None,
    wallet: Wallet | None = None,
) -> BatchOutcome:
    """Write one request group's results under the claim's `token`, settle its money and the
    failure streak, in one transaction. Safe to run twice for the same results (a time limit that
    struck around the commit): the second finds nothing still `sending` under the token."""
    now = timezone.now()
    max_attempts = 1 + settings.BROADCAST_MAX_RETRIES
    sent_ids, sent_pids, failed, retry = [], [], [], []
    for result in results:
        if result.accepted:
            sent_ids.append(result.message_id)
            # The column holds 128 characters; a longer id must not cost the batch its record.
            sent_pids.append((result.provider_message_id or "")[:128])
        elif result.transient:
            retry.append(result)
        else:
            failed.append(result)
    attempts = dict(Message.objects.filter(pk__in=[r.message_id for r in retry]).values_list("id", "attempts"))
    for result in list(retry):
        if attempts.get(result.message_id, max_attempts) >= max_attempts:
            retry.remove(result)
            failed.append(
                SendResult(
                    result.message_id,
                    False,
                    error_code="max_retries_exceeded",
                    error_message=f"Gave up after {max_attempts} attempts: {result.error_code}",
                )
            )

    def write() -> tuple[list[int], list[int]]:
        """The group's statuses, money, early reports and failure streak, in one transaction."""
        with transaction.atomic(), connection.cursor() as cursor:
            left: list[int] = []
            reported: set[int] = set()
            if sent_ids:
                # Each provider id is looked up in a map by the message's id, not joined: a join with the
                # ids' list was planned, with statistics taken before the broadcast was claimed (no
                # `sending` row known to them), as a nested loop that read the whole list once per
                # message: 100-150 ms for a group of 500 instead of ~25 (bench_smpp, auto_explain).
                # Without a join there is no plan but a lookup per message, whatever the statistics.
                cursor.execute(
                    """
                    UPDATE broadcasts_message AS m
                       SET status = %(sent)s, sent_at = %(now)s,
                           provider_message_id = NULLIF(%(pids)s::jsonb ->> m.id::text, ''),
                           lease_until = NULL, error_code = '', error_message = ''
                     WHERE m.id = ANY(%(ids)s::bigint[]) AND m.status = %(sending)s AND m.claim_token = %(token)s
                 RETURNING m.id, EXISTS (
                               SELECT 1 FROM broadcasts_earlyreport e
                                WHERE e.connector = m.connector AND e.provider_message_id = m.provider_message_id)
                    """,
                    {
                        "now": now,
                        "ids": int_array(sent_ids),
                        "pids": rows_by_id(dict(zip(sent_ids, sent_pids, strict=True))),
                        "sent": M.SENT,
                        "sending": M.SENDING,
                        "token": token,
                    },
                )
                rows = cursor.fetchall()
                # A report kept for one of these provider ids (it raced ahead of this record) applies
                # below; most groups have none, and pay no statement for looking.
                reported = {row[0] for row in rows if row[1]}
                left = [row[0] for row in rows]
                messages_announce_ids(MESSAGE_SENT, {broadcast.client_id: left})
            failed_now: list[int] = []
            if failed:
                cursor.execute(
                    """
                    UPDATE broadcasts_message AS m
                       SET status = %(failed)s, failed_at = %(now)s, lease_until = NULL,
                           error_code = %(r)s::jsonb -> m.id::text ->> 'code',
                           error_message = LEFT(%(r)s::jsonb -> m.id::text ->> 'message', 500)
                     WHERE m.id = ANY(%(ids)s::bigint[]) AND m.status = %(sending)s AND m.claim_token = %(token)s
                 RETURNING m.id
                    """,
                    {
                        "token": token,
                        "now": now,
                        "failed": M.FAILED,
                        "sending": M.SENDING,
                        "ids": [r.message_id for r in failed],
                        "r": rows_by_id(
                            {
                                r.message_id: {"code": r.error_code or "send_failed", "message": r.error_message}
                                for r in failed
                            }
                        ),
                    },
                )
                failed_now = [row[0] for row in cursor.fetchall()]
                messages_announce_ids(MESSAGE_FAILED, {broadcast.client_id: failed_now})
            if retry:
                cursor.execute(
                    """
                    UPDATE broadcasts_message AS m
                       SET lease_until = (%(r)s::jsonb -> m.id::text ->> 'at')::timestamptz,
                           error_code = %(r)s::jsonb -> m.id::text ->> 'code',
                           error_message = LEFT(%(r)s::jsonb -> m.id::text ->> 'message', 500),
                           wait_reason = %(retry)s,
                           -- An answer (or a request that never left) says the provider does not have it:
                           -- the handed mark goes. An unknown outcome keeps it (idempotent resend only).
                           handed_at = CASE WHEN (%(r)s::jsonb -> m.id::text -> 'unknown')::boolean THEN m.handed_at END
                     WHERE m.id = ANY(%(ids)s::bigint[]) AND m.status = %(sending)s AND m.claim_token = %(token)s
                    """,
                    {
                        "token": token,
                        "retry": WAIT_RETRY,
                        "sending": M.SENDING,
                        "ids": [r.message_id for r in retry],
                        "r": rows_by_id(
                            {
                                r.message_id: {
                                    "at": (
                                        now + timedelta(seconds=retry_delay(r, attempts.get(r.message_id, 1)))
                                    ).isoformat(),
                                    "code": r.error_code or "transient_error",
                                    "message": r.error_message,
                                    "unknown": r.unknown,
                                }
                                for r in retry
                            }
                        ),
                    },
                )
            # Reports that raced ahead of this record (kept by status_updates) apply once the capture is
            # written, in this transaction.
            pids = dict(zip(sent_ids, sent_pids, strict=True))
            early = [(claimed[i].connector, pids[i]) for i in left if i in reported and pids[i]]
            capture = sum((claimed[i].cost for i in left), Decimal(0))
            release = sum((claimed[i].cost for i in failed_now), Decimal(0))
            if capture:
                billing.capture(broadcast_id=broadcast.pk, amount=capture, wallet=wallet)
            if release:
                billing.release(broadcast_id=broadcast.pk, amount=release, wallet=wallet)
            if early:
                early_reports_apply(recorded=early)
            if count_streak:
                # Only what providers answered: a crash (delivery_unknown) or a missing connector says
                # nothing about whether the broadcast's recipients can be reached.
                provider = results if answered is None else [r for r in results if r.message_id in answered]
                if provider:
                    _update_failure_streak(broadcast, provider)
        return left, failed_now

    left, failed_now = _retrying_conflicts(write, broadcast_id=broadcast.pk)

    metrics.sends_recorded(
        [claimed[i].connector for i in left],
        [(claimed[r.message_id].connector, r.error_code) for r in failed if r.message_id in failed_now],
    )
    recorded = set(left)
    for name, connector in connectors.items():
        accepted = [
            r for r in results if r.accepted and r.message_id in recorded and claimed[r.message_id].connector == name
        ]
        if accepted:
            for later in build_connector(connector).after_send(accepted):  # the results are committed
                queue.connector_reports(str(connector.pk), list(later.provider_message_ids), delay=later.delay)
        # Providers that report nothing later (Telegram): accepted is delivered.
        delivered = [
            StatusUpdate(r.provider_message_id, M.DELIVERED) for r in accepted if r.delivered and r.provider_message_id
        ]
        if delivered:
            messages_apply_status(connector_name=name, updates=delivered)
    refused = [r.message_id for r in results if r.opt_out and r.message_id in set(failed_now)]
    if refused:
        contact_ids = list(
            Message.objects.filter(pk__in=refused, contact__isnull=False).values_list("contact_id", flat=True)
        )
        contacts_opt_out_by_ids(contact_ids=contact_ids, source=OptOutSource.PROVIDER)
    return BatchOutcome(sent=len(left), failed=len(failed_now), retrying=len(retry), deferred=0)


def _retrying_conflicts(write: Callable[[], T], *, broadcast_id: Any) -> T:
    """Run `write` (one transaction) again when PostgreSQL rolled it back for a deadlock or a
    serialization failure: a group's answers exist only in this process, and a record lost to a
    conflict would leave its messages `sending`, to end `delivery_unknown` once their lease runs out.
    Not inside a caller's transaction, which the conflict has spoilt as a whole."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return write()
        except OperationalError as exc:
            conflict = getattr(exc.__cause__, "sqlstate", None) in CONFLICT_SQLSTATES
            if not conflict or attempt == CONFLICT_ATTEMPTS or connection.in_atomic_block:
                raise
            log.warning("broadcast.record_conflict", broadcast_id=str(broadcast_id), attempt=attempt)
    raise AssertionError("unreachable")  # the last attempt returned or raised


def _update_failure_streak(broadcast: Broadcast, results: list[SendResult]) -> None:
    if max(results, key=lambda r: r.message_id).accepted:
        # The streak ends at zero: one UPDATE, which writes nothing while it is zero already.
        Broadcast.objects.filter(pk=broadcast.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
        return
    streak = Broadcast.objects.filter(pk=broadcast.pk).values_list("consecutive_failures", flat=True).get()
    last_error = ""
    for result in sorted(results, key=lambda r: r.message_id):
        if result.accepted:
            streak = 0
        else:
            streak += 1
            last_error = result.error_code or "send_failed"
    updates: dict[str, object] = {"consecutive_failures": streak}
    Broadcast.objects.filter(pk=broadcast.pk).update(**updates)
    if streak >= CONSECUTIVE_FAILURE_LIMIT:
        reason = (
            f"Paused after {CONSECUTIVE_FAILURE_LIMIT} consecutive failures "
            f"({streak} in a row; last error: {last_error})."
        )
        if broadcast_move(broadcast.pk, "pause", B.PAUSED, pause_reason=reason, paused_at=timezone.now()):
            log.warning("broadcast.auto_paused", broadcast_id=str(broadcast.pk), failures=streak)
