"""After every database test here, each wallet must equal the replay of its ledger, entry by entry,
and each reservation must equal the sum of its broadcast's ledger entries."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db.models import Sum

from wallets.models import LedgerEntry, Reservation, Wallet
from wallets.selectors import ledger_mismatches, wallet_replay


def assert_ledger_consistent() -> None:
    for wallet in Wallet.objects.all():
        assert wallet_replay(wallet=wallet) == (wallet.balance, wallet.reserved), wallet
        assert ledger_mismatches(wallet=wallet) == [], wallet
        held = sum((r.outstanding for r in Reservation.objects.filter(wallet=wallet)), Decimal(0))
        assert held == wallet.reserved, wallet
    for reservation in Reservation.objects.all():
        sums = {
            row["kind"]: row["total"]
            for row in LedgerEntry.objects.filter(broadcast_id=reservation.broadcast_id)
            .values("kind")
            .annotate(total=Sum("amount"))
        }
        zero = Decimal(0)
        assert (reservation.reserved, reservation.captured, reservation.released, reservation.refunded) == (
            sums.get("reserve", zero),
            sums.get("capture", zero),
            sums.get("release", zero),
            sums.get("refund", zero),
        ), reservation


@pytest.fixture(autouse=True)
def _ledger_replays(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        yield
        return
    transactional = marker.kwargs.get("transaction", False)
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    assert_ledger_consistent()
