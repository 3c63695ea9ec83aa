"""The credit flow of SPEC §7: top-up, adjust, reserve, capture, release, refund; refusals change nothing.

tests/wallets/conftest.py replays the ledger after every test and compares it with the wallets.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.exceptions import ConflictError, InsufficientCreditError
from tests.factories.accounts import UserFactory
from tests.factories.wallets import make_wallet
from wallets.models import LedgerEntry, Reservation, Wallet
from wallets.selectors import reservation_state, wallet_replay
from wallets.services import (
    wallet_adjust,
    wallet_capture,
    wallet_refund,
    wallet_release,
    wallet_reserve,
    wallet_set_billing,
    wallet_topup,
)

pytestmark = pytest.mark.django_db
D = Decimal


def figures(wallet: Wallet) -> tuple[Decimal, Decimal, Decimal]:
    wallet.refresh_from_db()
    return wallet.balance, wallet.reserved, wallet.available


def snapshot(wallet: Wallet) -> tuple[object, ...]:
    wallet.refresh_from_db()
    return (
        wallet.balance,
        wallet.reserved,
        LedgerEntry.objects.filter(wallet=wallet).count(),
        list(Reservation.objects.filter(wallet=wallet).values_list("reserved", "captured", "released", "refunded")),
    )


def test_topup_credits_the_balance_and_writes_the_entry():
    wallet = make_wallet()
    staff = UserFactory()
    entry = wallet_topup(wallet=wallet, amount="12.50", note="INV-1", created_by=staff)
    assert (entry.kind, entry.amount, entry.balance_after, entry.reserved_after) == ("topup", D("12.5"), D("12.5"), 0)
    assert (entry.note, entry.created_by, entry.broadcast_id) == ("INV-1", staff, None)
    assert figures(wallet) == (D("12.5"), 0, D("12.5"))
    assert wallet.balance == D("12.5")  # the caller's instance sees it too


def test_adjust_is_signed_and_keeps_the_note_and_the_staff_user():
    wallet = make_wallet(balance="10")
    staff = UserFactory()
    wallet_adjust(wallet=wallet, amount="-4.25", note="duplicate payment", created_by=staff)
    entry = wallet_adjust(wallet=wallet, amount="1", note="goodwill", created_by=staff)
    assert figures(wallet) == (D("6.75"), 0, D("6.75"))
    assert (entry.kind, entry.amount, entry.created_by) == ("adjustment", D("1"), staff)
    assert list(LedgerEntry.objects.filter(kind="adjustment").values_list("amount", flat=True)) == [D("1"), D("-4.25")]


def test_adjust_cannot_take_available_below_zero():
    wallet = make_wallet(balance="10")
    wallet_reserve(wallet=wallet, amount="8", broadcast_id=uuid.uuid4())
    before = snapshot(wallet)
    with pytest.raises(InsufficientCreditError):
        wallet_adjust(wallet=wallet, amount="-2.01", note="too much")
    assert snapshot(wallet) == before
    wallet_adjust(wallet=wallet, amount="-2", note="exactly what is available")
    assert figures(wallet) == (D("8"), D("8"), 0)


def test_a_broadcast_reserves_captures_releases_and_refunds():
    wallet = make_wallet(balance="100")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="30", broadcast_id=bid, note="estimate")
    assert figures(wallet) == (D("100"), D("30"), D("70"))
    wallet_capture(wallet=wallet, amount="12.345678", broadcast_id=bid)  # a sent batch
    assert figures(wallet) == (D("87.654322"), D("17.654322"), D("70"))
    wallet_release(wallet=wallet, amount="2", broadcast_id=bid)  # messages that never left
    assert figures(wallet) == (D("87.654322"), D("15.654322"), D("72"))
    wallet_refund(wallet=wallet, amount="0.345678", broadcast_id=bid)  # failed after sending
    assert figures(wallet) == (D("88"), D("15.654322"), D("72.345678"))
    entry = wallet_release(wallet=wallet, broadcast_id=bid)  # completion releases the rest
    assert entry is not None
    assert entry.amount == D("15.654322")
    assert figures(wallet) == (D("88"), 0, D("88"))
    state = reservation_state(broadcast_id=bid)
    assert state is not None
    assert (state.reserved, state.captured, state.released, state.refunded) == (
        D("30"),
        D("12.345678"),
        D("17.654322"),
        D("0.345678"),
    )
    assert (state.outstanding, state.charged) == (0, D("12"))
    kinds = list(LedgerEntry.objects.filter(broadcast_id=bid).order_by("id").values_list("kind", flat=True))
    assert kinds == ["reserve", "capture", "release", "refund", "release"]
    assert wallet_replay(wallet=wallet) == (D("88"), 0)


def test_reserving_again_for_the_same_broadcast_adds_to_its_reservation():
    wallet = make_wallet(balance="10")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="3", broadcast_id=bid)
    wallet_reserve(wallet=wallet, amount="2", broadcast_id=str(bid))
    assert Reservation.objects.get().reserved == D("5")
    assert figures(wallet) == (D("10"), D("5"), D("5"))


def test_reserve_more_than_available_is_insufficient_credit_and_changes_nothing():
    wallet = make_wallet(balance="5")
    before = snapshot(wallet)
    with pytest.raises(InsufficientCreditError) as exc:
        wallet_reserve(wallet=wallet, amount="5.000001", broadcast_id=uuid.uuid4())
    assert exc.value.status_code == 402
    assert "5.000000 USD is available" in exc.value.message
    assert snapshot(wallet) == before
    assert not Reservation.objects.exists()


def test_reserve_inside_a_failed_outer_transaction_leaves_nothing():
    wallet = make_wallet(balance="5")
    before = snapshot(wallet)

    def create_broadcast() -> None:
        with transaction.atomic():
            wallet_reserve(wallet=wallet, amount="2", broadcast_id=uuid.uuid4())
            wallet_reserve(wallet=wallet, amount="4", broadcast_id=uuid.uuid4())

    with pytest.raises(InsufficientCreditError):
        create_broadcast()
    assert snapshot(wallet) == before


def test_postpaid_may_spend_down_to_minus_the_credit_limit():
    wallet = make_wallet(billing="postpaid", credit_limit="50")
    assert figures(wallet) == (0, 0, D("50"))
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="50", broadcast_id=bid)
    with pytest.raises(InsufficientCreditError):
        wallet_reserve(wallet=wallet, amount="0.000001", broadcast_id=uuid.uuid4())
    wallet_capture(wallet=wallet, amount="50", broadcast_id=bid)
    assert figures(wallet) == (D("-50"), 0, 0)
    wallet_topup(wallet=wallet, amount="20")
    assert figures(wallet) == (D("-30"), 0, D("20"))


def test_a_prepaid_wallet_ignores_its_credit_limit():
    wallet = make_wallet(billing="prepaid", credit_limit="50")
    with pytest.raises(InsufficientCreditError):
        wallet_reserve(wallet=wallet, amount="1", broadcast_id=uuid.uuid4())


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "more than 0"),
        ("-1", "more than 0"),
        ("abc", "not a number"),
        ("", "not a number"),
        ("NaN", "not a number"),
        ("Infinity", "not a number"),
        ("1.0000001", "more than 6 decimal places"),
        ("100000000000000", "too large"),
        (1.5, "not a float"),
    ],
)
@pytest.mark.parametrize("service", ["topup", "reserve", "capture", "release", "refund"])
def test_bad_amounts_are_refused_and_change_nothing(service, amount, message):
    wallet = make_wallet(balance="10")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="5", broadcast_id=bid)
    wallet_capture(wallet=wallet, amount="1", broadcast_id=bid)
    before = snapshot(wallet)
    calls = {
        "topup": lambda: wallet_topup(wallet=wallet, amount=amount),
        "reserve": lambda: wallet_reserve(wallet=wallet, amount=amount, broadcast_id=bid),
        "capture": lambda: wallet_capture(wallet=wallet, amount=amount, broadcast_id=bid),
        "release": lambda: wallet_release(wallet=wallet, amount=amount, broadcast_id=bid),
        "refund": lambda: wallet_refund(wallet=wallet, amount=amount, broadcast_id=bid),
    }
    with pytest.raises(ValidationError, match=message):
        calls[service]()
    assert snapshot(wallet) == before


@pytest.mark.parametrize(
    ("amount", "note", "message"),
    [
        ("0", "why", "must not be zero"),
        ("x", "why", "not a number"),
        ("5", "", "needs a note"),
        ("5", "   ", "needs a note"),
    ],
)
def test_bad_adjustments_are_refused(amount, note, message):
    wallet = make_wallet(balance="10")
    before = snapshot(wallet)
    with pytest.raises(ValidationError, match=message):
        wallet_adjust(wallet=wallet, amount=amount, note=note)
    assert snapshot(wallet) == before


def test_bad_broadcast_id_is_refused():
    wallet = make_wallet(balance="10")
    with pytest.raises(ValidationError, match="not a UUID"):
        wallet_reserve(wallet=wallet, amount="1", broadcast_id="broadcast-1")


def test_capture_more_than_reserved_is_a_conflict_and_changes_nothing():
    wallet = make_wallet(balance="10")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="3", broadcast_id=bid)
    wallet_capture(wallet=wallet, amount="2", broadcast_id=bid)
    before = snapshot(wallet)
    with pytest.raises(ConflictError) as exc:
        wallet_capture(wallet=wallet, amount="1.000001", broadcast_id=bid)
    assert exc.value.code == "capture_exceeds_reservation"
    assert snapshot(wallet) == before


def test_capture_release_and_refund_without_a_reservation_are_conflicts():
    wallet = make_wallet(balance="10")
    bid = uuid.uuid4()
    before = snapshot(wallet)
    for call in (
        lambda: wallet_capture(wallet=wallet, amount="1", broadcast_id=bid),
        lambda: wallet_release(wallet=wallet, amount="1", broadcast_id=bid),
        lambda: wallet_refund(wallet=wallet, amount="1", broadcast_id=bid),
    ):
        with pytest.raises(ConflictError) as exc:
            call()
        assert exc.value.code == "no_reservation"
    assert wallet_release(wallet=wallet, broadcast_id=bid) is None  # "release the rest" of nothing
    assert snapshot(wallet) == before


def test_release_twice_the_second_time_is_refused_or_a_no_op():
    wallet = make_wallet(balance="10")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="4", broadcast_id=bid)
    wallet_release(wallet=wallet, amount="4", broadcast_id=bid)
    before = snapshot(wallet)
    with pytest.raises(ConflictError) as exc:
        wallet_release(wallet=wallet, amount="4", broadcast_id=bid)
    assert exc.value.code == "release_exceeds_reservation"
    # Releasing "the rest" twice (cancel, then completion; or a task run twice) writes nothing the second time.
    assert wallet_release(wallet=wallet, broadcast_id=bid) is None
    assert wallet_release(wallet=wallet, broadcast_id=bid) is None
    assert snapshot(wallet) == before


def test_refund_more_than_captured_is_a_conflict():
    wallet = make_wallet(balance="10")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="5", broadcast_id=bid)
    wallet_capture(wallet=wallet, amount="3", broadcast_id=bid)
    wallet_refund(wallet=wallet, amount="2", broadcast_id=bid)
    before = snapshot(wallet)
    with pytest.raises(ConflictError) as exc:
        wallet_refund(wallet=wallet, amount="1.000001", broadcast_id=bid)
    assert exc.value.code == "refund_exceeds_captured"
    assert snapshot(wallet) == before
    wallet_refund(wallet=wallet, amount="1", broadcast_id=bid)
    assert figures(wallet) == (D("10"), D("2"), D("8"))


def test_a_reservation_belongs_to_one_wallet():
    first, second = make_wallet(balance="10"), make_wallet(balance="10")
    bid = uuid.uuid4()
    wallet_reserve(wallet=first, amount="1", broadcast_id=bid)
    before = snapshot(second)
    for call in (
        lambda: wallet_reserve(wallet=second, amount="1", broadcast_id=bid),
        lambda: wallet_capture(wallet=second, amount="1", broadcast_id=bid),
    ):
        with pytest.raises(ConflictError) as exc:
            call()
        assert exc.value.code == "reservation_other_wallet"
    assert snapshot(second) == before


def test_set_billing_keeps_available_non_negative():
    wallet = make_wallet(billing="postpaid", credit_limit="20")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="15", broadcast_id=bid)
    wallet_capture(wallet=wallet, amount="15", broadcast_id=bid)
    with pytest.raises(ConflictError):
        wallet_set_billing(wallet=wallet, billing="postpaid", credit_limit="14.99")
    with pytest.raises(ConflictError):
        wallet_set_billing(wallet=wallet, billing="prepaid", credit_limit="0")
    wallet_set_billing(wallet=wallet, billing="postpaid", credit_limit="15")
    assert figures(wallet) == (D("-15"), 0, 0)
    with pytest.raises(ValidationError):
        wallet_set_billing(wallet=wallet, billing="credit", credit_limit="15")


# --- the database backs every invariant, whatever the code does ----------------------------------


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("UPDATE wallets_wallet SET reserved = -1", "wallet_reserved_not_negative"),
        ("UPDATE wallets_wallet SET balance = balance - 11", "wallet_available_not_negative"),
        ("UPDATE wallets_wallet SET billing = 'credit'", "wallet_(billing_valid|available_not_negative)"),
        ("UPDATE wallets_reservation SET captured = 6", "reservation_within_reserved"),
        ("UPDATE wallets_reservation SET released = 5", "reservation_within_reserved"),
        ("UPDATE wallets_reservation SET refunded = 2", "reservation_refund_within_captured"),
        ("UPDATE wallets_reservation SET captured = -1", "reservation_amounts_not_negative"),
    ],
)
def test_check_constraints_back_the_invariants(sql, constraint):
    wallet = make_wallet(balance="10")
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="5", broadcast_id=bid)
    wallet_capture(wallet=wallet, amount="1", broadcast_id=bid)
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def test_postpaid_constraint_stops_at_minus_the_credit_limit():
    wallet = make_wallet(billing="postpaid", credit_limit="5")
    with pytest.raises(IntegrityError, match="wallet_available_not_negative"), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=D("-5.000001"))
    Wallet.objects.filter(pk=wallet.pk).update(balance=D("-5"))
    Wallet.objects.filter(pk=wallet.pk).update(balance=D("0"))  # keep the ledger replay true


def test_ledger_entries_are_immutable():
    wallet = make_wallet(balance="10")
    entry = LedgerEntry.objects.get(wallet=wallet)
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=D("11"))
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(IntegrityError, match="ledger_amount_not_zero"), transaction.atomic():
        LedgerEntry.objects.create(wallet=wallet, kind="adjustment", amount=0, balance_after=10, reserved_after=0)
    with pytest.raises(IntegrityError, match="ledger_broadcast_matches_kind"), transaction.atomic():
        LedgerEntry.objects.create(wallet=wallet, kind="reserve", amount=1, balance_after=10, reserved_after=1)


def test_the_trigger_lets_a_deleted_staff_user_be_set_null():
    wallet = make_wallet()
    staff = UserFactory()
    entry = wallet_topup(wallet=wallet, amount="1", created_by=staff)
    # What Django's collector does for on_delete=SET_NULL when the user is deleted.
    LedgerEntry.objects.filter(created_by=staff).update(created_by=None)
    entry.refresh_from_db()
    assert (entry.created_by, entry.amount) == (None, D("1"))
