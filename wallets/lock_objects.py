"""Every row lock the wallets app takes, in one place and one order (Saleor's pattern): the wallet
row first, then a broadcast's reservation. Callers from other apps lock their own rows before these
(broadcasts/lock_objects.py). Rows are locked `FOR NO KEY UPDATE`, as there: a foreign key's check
from another transaction (a ledger entry, a reservation) never waits on a lock holder."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from .models import LedgerEntry, Reservation, Wallet


def wallet_for_update(wallet: Wallet) -> Wallet:
    """The wallet row, locked until the end of the caller's transaction (and read afresh)."""
    return Wallet.objects.select_for_update(no_key=True).get(pk=wallet.pk)


def reservation_for_update(broadcast_id: uuid.UUID) -> Reservation | None:
    """A broadcast's reservation, locked; take it after its wallet's lock."""
    return Reservation.objects.select_for_update(no_key=True).filter(broadcast_id=broadcast_id).first()


# One statement, one round trip: lock the wallet, take the amount out of the reservation only if it
# holds that much, take it from balance and reserved, write the entry. The wallet's lock is taken
# first (w, evaluated for r's condition), then the reservation's (r), the fixed order of
# lock_objects.py. Nothing is written unless every step applies: no row comes back, and the caller
# asks why (wallets.services.wallet_capture).
_CAPTURE = """
WITH w AS (
    SELECT client_id FROM wallets_wallet WHERE client_id = %(wallet)s FOR NO KEY UPDATE
), r AS (
    UPDATE wallets_reservation
       SET captured = captured + %(amount)s, updated_at = %(now)s
     WHERE broadcast_id = %(broadcast)s AND wallet_id = (SELECT client_id FROM w)
       AND reserved - captured - released >= %(amount)s
 RETURNING wallet_id
), u AS (
    UPDATE wallets_wallet
       SET balance = balance - %(amount)s, reserved = reserved - %(amount)s, updated_at = %(now)s
     WHERE client_id = (SELECT wallet_id FROM r)
 RETURNING client_id, balance, reserved
)
INSERT INTO wallets_ledgerentry (wallet_id, kind, amount, balance_after, reserved_after, broadcast_id, note,
                                 created_by_id, created_at)
SELECT client_id, %(kind)s, %(amount)s, balance, reserved, %(broadcast)s, %(note)s, NULL, %(now)s FROM u
RETURNING id, balance_after, reserved_after
"""


def capture_with_locks(
    *, wallet_id: Any, broadcast_id: uuid.UUID, amount: Decimal, now: datetime, note: str
) -> tuple[Any, Decimal, Decimal] | None:
    """_CAPTURE: (ledger entry id, balance after, reserved after), or None when nothing applied (no
    reservation of this wallet, or it holds less than `amount`)."""
    params = {
        "wallet": wallet_id,
        "amount": amount,
        "broadcast": broadcast_id,
        "now": now,
        "kind": LedgerEntry.Kind.CAPTURE,
        "note": note,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CAPTURE, params)
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1], row[2])
