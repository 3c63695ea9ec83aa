"""Every row lock the wallets app takes, in one place and one order (Saleor's pattern): the wallet
row first, then a broadcast's reservation. Callers from other apps lock their own rows before these
(broadcasts/lock_objects.py)."""

from __future__ import annotations

import uuid

from .models import Reservation, Wallet


def wallet_for_update(wallet: Wallet) -> Wallet:
    """The wallet row, locked until the end of the caller's transaction (and read afresh)."""
    return Wallet.objects.select_for_update().get(pk=wallet.pk)


def reservation_for_update(broadcast_id: uuid.UUID) -> Reservation | None:
    """A broadcast's reservation, locked; take it after its wallet's lock."""
    return Reservation.objects.select_for_update().filter(broadcast_id=broadcast_id).first()
