"""Reserving credit for message rows just written (create, test sends, each prepared chunk)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection

from wallets.models import Wallet
from wallets.services import wallet_reserve


def reserve_after_checks(*, wallet: Wallet, amount: Decimal, broadcast_id: Any, note: str) -> None:
    """Reserve credit for rows just written, after their deferred foreign-key checks.

    The checks would otherwise run at COMMIT: at a million rows that takes seconds with the wallet
    row locked. They also lock the broadcast row (KEY SHARE), and taking that before the wallet
    keeps one lock order with retry-failed and cancel (broadcast, then wallet): a test send that
    reserved first and checked at COMMIT deadlocked against them.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        try:
            wallet_reserve(wallet=wallet, amount=amount, broadcast_id=broadcast_id, note=note)
        finally:
            # Back to Django's default (every foreign key DEFERRABLE INITIALLY DEFERRED).
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
