"""The database side of SMPP binds: receipts, MO, multipart parts, throttling. Registered as the
binds' effects (effects.py) when imported.

Receipts go through `status_updates.messages_apply_status`, the path the hooks use (an id not known
yet is kept as an early report, then dropped and logged: acknowledged either way). A multipart
message's receipts are per part: its parts are rows (SmppPart); the message moves to delivered when
every part is, to failed when one part fails, under its first part's id (its provider id).

A receipt and the record of its message's parts can cross: the receipt may be read before the parts
are stored. Both take the same transaction-scoped advisory lock per connector, so either the receipt
sees the parts, or the parts' record finds the receipt kept as an early report and applies it.

MO goes through `inbound.replies_receive` (opt-out keywords apply); concatenated MO is reassembled
in the database first (mo_store.py: a part is answered once stored, so a crash loses nothing).

A batch is stored in one transaction: when any of it fails, none of it stays, and every deliver_sm
of the batch is answered 0x64 so the SMSC sends it again (nothing is stored twice).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from django.db import connection, transaction

from accounts.sql_values import rows_by_id, text_array
from broadcasts.connectors.base import InboundMessage, StatusUpdate
from broadcasts.inbound import replies_receive
from broadcasts.models import Connector, EarlyReport
from broadcasts.status_updates import early_reports_recheck, messages_apply_status

from . import effects, store_thread
from .config import SmppConfig
from .mo_store import mo_whole
from .models import SmppPart
from .receipts import MoPart, Receipt, is_receipt, mo_from, normalize_id, receipt_from

log = structlog.get_logger(__name__)

# When a receipt kept early (read before its send was recorded) is looked at again, in seconds after
# its batch; what is still unknown after the last waits for beat's sweep.
RECHECK_AFTER = (0.2, 1.0, 3.0)


def _lock(cursor: Any, connector_name: str) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"smpp-parts:{connector_name}"])


def _parts_apply(cursor: Any, connector_name: str, rows: Sequence[tuple[str, str, str]]) -> list[StatusUpdate]:
    """Record (part id, status, error code) on parts; the message updates they complete."""
    if not rows:
        return []
    # Each part reads its report by its id (accounts/sql_values.py): no join with the list.
    cursor.execute(
        """
        UPDATE broadcasts_smpppart p
           SET status = %(r)s::jsonb -> p.provider_message_id ->> 'status',
               error_code = %(r)s::jsonb -> p.provider_message_id ->> 'code'
         WHERE p.connector = %(connector)s AND p.provider_message_id = ANY(%(ids)s::text[]) AND p.status <> 'failed'
     RETURNING p.message_id
        """,
        {
            "r": rows_by_id({pid: {"status": status, "code": code} for pid, status, code in rows}),
            "ids": [r[0] for r in rows],
            "connector": connector_name,
        },
    )
    message_ids = sorted({row[0] for row in cursor.fetchall()})
    if not message_ids:
        return []
    cursor.execute(
        """
        SELECT (array_agg(provider_message_id ORDER BY seq))[1], bool_and(status = 'delivered'),
               bool_or(status = 'failed'), max(error_code) FILTER (WHERE status = 'failed')
          FROM broadcasts_smpppart WHERE message_id = ANY(%s) GROUP BY message_id
        """,
        [message_ids],
    )
    updates = []
    for first_id, delivered, failed, code in cursor.fetchall():
        if failed:
            updates.append(StatusUpdate(first_id, "failed", error_code=code or "smpp_failed"))
        elif delivered:
            updates.append(StatusUpdate(first_id, "delivered"))
    return updates


def receipts_apply(*, connector_name: str, receipts: Sequence[Receipt]) -> int:
    """Apply receipts (ids already normalized); returns how many messages moved."""
    return _receipts_apply(connector_name=connector_name, receipts=receipts)[0]


def _receipts_apply(*, connector_name: str, receipts: Sequence[Receipt]) -> tuple[int, tuple[str, ...]]:
    """(messages moved, ids kept as early reports: no message has them yet)."""
    receipts = [r for r in receipts if r.status is not None]
    if not receipts:
        return 0, ()
    # Inside the batch's transaction (delivers_store) a savepoint would be two round trips for
    # nothing: an error here fails the whole batch, which the SMSC then sends again.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        _lock(cursor, connector_name)
        cursor.execute(
            "SELECT provider_message_id FROM broadcasts_smpppart"
            " WHERE connector = %s AND provider_message_id = ANY(%s::text[])",
            [connector_name, text_array(r.message_id for r in receipts)],
        )
        of_parts = {row[0] for row in cursor.fetchall()}
        updates = [
            StatusUpdate(r.message_id, r.status or "", error_code=r.error_code, at=r.done_at)
            for r in receipts
            if r.message_id not in of_parts
        ]
        rows = [(r.message_id, r.status or "", r.error_code) for r in receipts if r.message_id in of_parts]
        updates += _parts_apply(cursor, connector_name, rows)
        if not updates:
            return 0, ()
        outcome = messages_apply_status(connector_name=connector_name, updates=updates)
        return outcome.applied, outcome.kept


class Store:
    """Called on the store thread (store_thread.py), which keeps its connection between batches."""

    def delivers_store(self, *, connector_id: str, pdus: list[Any]) -> None:
        with transaction.atomic():
            connector_name, kept = self._delivers_store(connector_id=connector_id, pdus=pdus)
        if kept:
            # Receipts read while their send's answer was being recorded (its transaction not yet
            # committed) were kept as early reports: look again in a moment rather than leave them
            # to beat's sweep (up to 10 s).
            store_thread.later(RECHECK_AFTER[0], self.early_recheck, connector_name=connector_name, ids=kept)

    def early_recheck(self, *, connector_name: str, ids: tuple[str, ...], attempt: int = 0) -> None:
        early_reports_recheck(connector_name=connector_name, provider_message_ids=ids)
        left = set(
            EarlyReport.objects.filter(connector=connector_name, provider_message_id__in=ids).values_list(
                "provider_message_id", flat=True
            )
        )
        if left and attempt + 1 < len(RECHECK_AFTER):
            store_thread.later(
                RECHECK_AFTER[attempt + 1], self.early_recheck,
                connector_name=connector_name, ids=tuple(left), attempt=attempt + 1,
            )  # fmt: skip

    def _delivers_store(self, *, connector_id: str, pdus: list[Any]) -> tuple[str, tuple[str, ...]]:
        connector = Connector.objects.get(pk=connector_id)
        config = SmppConfig.from_dict(connector.config)
        receipts: list[Receipt] = []
        mo: list[MoPart] = []
        unreadable = 0
        for pdu in pdus:
            if is_receipt(pdu):
                receipt = receipt_from(pdu)
                if receipt is None:
                    unreadable += 1
                    continue
                normalized = normalize_id(receipt.message_id, config.receipt_id_format)
                receipts.append(Receipt(normalized, receipt.stat, receipt.err, receipt.done_at))
                continue
            mo.append(mo_from(pdu))
        if unreadable:
            log.warning("smpp.receipt_without_id", connector=connector.name, count=unreadable)
        applied, kept = _receipts_apply(connector_name=connector.name, receipts=receipts)
        inbound = [
            InboundMessage(
                urn=f"tel:+{whole.source.lstrip('+')}",
                text=whole.text,
                provider_message_id=f"smpp-{uuid.uuid4().hex}",
                to=whole.destination,
            )
            for whole in mo_whole(connector_name=connector.name, parts=mo)
        ]
        replies = replies_receive(connector=connector, messages=inbound) if inbound else 0
        log.info("smpp.delivered", connector=connector.name, receipts=len(receipts), applied=applied, replies=replies)
        return connector.name, kept

    def parts_record(self, *, connector_name: str, parts: list[tuple[int, list[str]]]) -> None:
        rows = [
            SmppPart(message_id=message_id, connector=connector_name, seq=seq, provider_message_id=pid)
            for message_id, ids in parts
            for seq, pid in enumerate(ids, start=1)
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor, connector_name)
            SmppPart.objects.bulk_create(rows, ignore_conflicts=True)
            cursor.execute(
                """
                DELETE FROM broadcasts_earlyreport
                 WHERE connector = %s AND provider_message_id = ANY(%s)
             RETURNING provider_message_id, status, error_code
                """,
                [connector_name, [r.provider_message_id for r in rows]],
            )
            updates = _parts_apply(cursor, connector_name, cursor.fetchall())
            if updates:
                messages_apply_status(connector_name=connector_name, updates=updates)

    def pacing_slow(self, *, connector_id: str, seconds: float) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE broadcasts_connector
                   SET pacing_next_at = GREATEST(COALESCE(pacing_next_at, clock_timestamp()), clock_timestamp())
                                        + make_interval(secs => %s)
                 WHERE id = %s
                """,
                [seconds, connector_id],
            )
        log.info("smpp.throttled", connector_id=connector_id, pause=seconds)


effects.register(Store())
