"""Money under real concurrency: real threads, each with its own PostgreSQL connection, no mocks.

The ledger replay (tests/wallets/conftest.py) is also checked after each of these.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from accounts.exceptions import ConflictError, InsufficientCreditError
from tests.factories.wallets import make_wallet
from wallets.models import LedgerEntry, Reservation, Wallet
from wallets.selectors import wallet_replay
from wallets.services import wallet_capture, wallet_refund, wallet_release, wallet_reserve

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
WORKERS = 20  # connections at once; the server is shared with other test runs


def run_concurrently(tasks: list[Callable[[], object]]) -> list[str]:
    """Run every task on a pool of threads that start together; each outcome as a word."""
    barrier = threading.Barrier(WORKERS)

    def worker(chunk: list[Callable[[], object]]) -> list[str]:
        outcomes = []
        try:
            barrier.wait(timeout=30)
            for task in chunk:
                try:
                    task()
                    outcomes.append("ok")
                except InsufficientCreditError:
                    outcomes.append("insufficient")
                except ConflictError as exc:
                    outcomes.append(exc.code)
        finally:
            connection.close()
        return outcomes

    chunks = [tasks[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(worker, chunks))
    return [outcome for chunk in results for outcome in chunk]


def fresh(wallet: Wallet) -> Wallet:
    return Wallet.objects.get(pk=wallet.pk)


def test_100_concurrent_reservations_against_37_available_exactly_37_succeed():
    wallet = make_wallet(balance="37.00")
    outcomes = run_concurrently(
        [lambda: wallet_reserve(wallet=fresh(wallet), amount="1.00", broadcast_id=uuid.uuid4()) for _ in range(100)]
    )
    assert Counter(outcomes) == {"ok": 37, "insufficient": 63}
    wallet = fresh(wallet)
    assert (wallet.balance, wallet.reserved, wallet.available) == (D("37"), D("37"), D("0"))
    assert wallet_replay(wallet=wallet) == (D("37"), D("37"))
    assert LedgerEntry.objects.filter(kind="reserve").count() == Reservation.objects.count() == 37


def test_postpaid_spending_stops_exactly_at_minus_the_credit_limit():
    wallet = make_wallet(billing="postpaid", credit_limit="25")

    def send_one() -> None:
        bid = uuid.uuid4()
        wallet_reserve(wallet=fresh(wallet), amount="1.00", broadcast_id=bid)
        wallet_capture(wallet=fresh(wallet), amount="1.00", broadcast_id=bid)

    outcomes = run_concurrently([send_one for _ in range(60)])
    assert Counter(outcomes) == {"ok": 25, "insufficient": 35}
    wallet = fresh(wallet)
    assert (wallet.balance, wallet.reserved, wallet.available) == (D("-25"), 0, 0)
    assert wallet_replay(wallet=wallet) == (D("-25"), 0)


def test_concurrent_capture_release_and_refund_never_exceed_the_reservation():
    wallet = make_wallet(balance="100")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="10.00", broadcast_id=bid)
    rnd = random.Random(7)
    tasks: list[Callable[[], object]] = []
    for _ in range(120):
        kind = rnd.choice(["capture", "capture", "release", "refund", "release_rest"])
        if kind == "capture":
            tasks.append(lambda: wallet_capture(wallet=fresh(wallet), amount="0.50", broadcast_id=bid))
        elif kind == "release":
            tasks.append(lambda: wallet_release(wallet=fresh(wallet), amount="0.50", broadcast_id=bid))
        elif kind == "refund":
            tasks.append(lambda: wallet_refund(wallet=fresh(wallet), amount="0.50", broadcast_id=bid))
        else:
            tasks.append(lambda: wallet_release(wallet=fresh(wallet), broadcast_id=bid))
    outcomes = run_concurrently(tasks)
    assert set(outcomes) <= {
        "ok",
        "capture_exceeds_reservation",
        "release_exceeds_reservation",
        "refund_exceeds_captured",
    }
    reservation = Reservation.objects.get(broadcast_id=bid)
    assert reservation.captured + reservation.released == D("10")  # someone released the rest
    assert reservation.refunded <= reservation.captured
    wallet = fresh(wallet)
    assert wallet.reserved == 0
    assert wallet.balance == D("100") - reservation.captured + reservation.refunded
    assert wallet_replay(wallet=wallet) == (wallet.balance, wallet.reserved)


def test_concurrent_captures_take_exactly_the_reservation():
    wallet = make_wallet(balance="50")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="10.00", broadcast_id=bid)
    outcomes = run_concurrently(
        [lambda: wallet_capture(wallet=fresh(wallet), amount="0.25", broadcast_id=bid) for _ in range(60)]
    )
    assert Counter(outcomes) == {"ok": 40, "capture_exceeds_reservation": 20}
    wallet = fresh(wallet)
    assert (wallet.balance, wallet.reserved, wallet.available) == (D("40"), 0, D("40"))


def test_concurrent_release_of_the_rest_releases_it_once():
    wallet = make_wallet(balance="50")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="10.00", broadcast_id=bid)
    run_concurrently([lambda: wallet_release(wallet=fresh(wallet), broadcast_id=bid) for _ in range(40)])
    assert LedgerEntry.objects.filter(kind="release").count() == 1
    assert fresh(wallet).available == D("50")


def test_reservations_on_many_wallets_do_not_block_or_mix():
    wallets = [make_wallet(balance="5") for _ in range(4)]
    tasks: list[Callable[[], object]] = []
    for wallet in wallets:
        tasks += [
            lambda w=wallet: wallet_reserve(wallet=fresh(w), amount="1", broadcast_id=uuid.uuid4()) for _ in range(8)
        ]
    outcomes = run_concurrently(tasks)
    assert Counter(outcomes) == {"ok": 20, "insufficient": 12}
    assert [fresh(w).available for w in wallets] == [0, 0, 0, 0]
