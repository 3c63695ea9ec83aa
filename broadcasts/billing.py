"""The broadcast's side of the credit flow (SPEC §7), keyed by broadcast id.

Dispatch and delivery reports call these; each finds the broadcast's wallet and calls the wallets
service, which locks the wallet and the broadcast's reservation and writes the ledger entry.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from wallets.models import Wallet
from wallets.services import wallet_capture, wallet_refund, wallet_release


def broadcast_wallet(broadcast_id: uuid.UUID | str) -> Wallet:
    return Wallet.objects.get(client__broadcasts=uuid.UUID(str(broadcast_id)))


def capture(*, broadcast_id: uuid.UUID | str, amount: Decimal, wallet: Wallet | None = None) -> None:
    """A group left: charge its cost out of the reservation (`wallet`: the broadcast's, when the
    caller has it already)."""
    wallet_capture(wallet=wallet or broadcast_wallet(broadcast_id), amount=amount, broadcast_id=broadcast_id)


def release(*, broadcast_id: uuid.UUID | str, amount: Decimal, wallet: Wallet | None = None) -> None:
    """Messages failed before leaving: give their reserved cost back."""
    wallet_release(wallet=wallet or broadcast_wallet(broadcast_id), amount=amount, broadcast_id=broadcast_id)


def release_rest(*, broadcast_id: uuid.UUID | str) -> None:
    """Completion or cancel: give back whatever the reservation still holds (idempotent)."""
    wallet_release(wallet=broadcast_wallet(broadcast_id), broadcast_id=broadcast_id, note="Broadcast finished")


def refund(*, broadcast_id: uuid.UUID | str, amount: Decimal) -> None:
    """Messages failed after leaving: credit their captured cost back.

    Messages that cost nothing (a free route) are refunded nothing: there is no money to move and the
    ledger holds no zero entries (nor, for a broadcast that cost nothing, a reservation to refund to).
    Raising here would roll back every other report of the batch.
    """
    if amount == 0:
        return
    wallet_refund(
        wallet=broadcast_wallet(broadcast_id), amount=amount, broadcast_id=broadcast_id, note="Failed after sending"
    )
