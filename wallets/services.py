"""Money movements. Each is ONE short transaction that locks the rows it changes (the wallet first, then
the broadcast's reservation — always in that order, so two services can never deadlock), changes them,
and writes the immutable LedgerEntry that records the change.

Amounts are Decimals (or strings) in the wallet's currency, more than 0, with at most 6 places.
Refusals raise accounts.exceptions errors and change nothing: InsufficientCreditError (402) when the
available credit is too low, ConflictError (409) when the reservation does not allow the movement.
Call them inside your own transaction.atomic() to make them part of a bigger change (the broadcast's
creation): the wallet row then stays locked until that transaction ends, so keep it short.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

import structlog
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.exceptions import ConflictError, InsufficientCreditError
from accounts.models import Client, User

from .lock_objects import capture_with_locks, reservation_for_update, wallet_for_update
from .models import ZERO, LedgerEntry, Reservation, Wallet
from .validators import QUANTUM, parse_amount, parse_positive_amount, validate_currency

__all__ = [
    "QUANTUM",
    "parse_amount",
    "validate_currency",
    "wallet_adjust",
    "wallet_capture",
    "wallet_create",
    "wallet_refund",
    "wallet_release",
    "wallet_reserve",
    "wallet_set_billing",
    "wallet_topup",
]

log = structlog.get_logger(__name__)
Kind = LedgerEntry.Kind


def wallet_create(
    *, client: Client, currency: str, billing: str = Wallet.Billing.PREPAID, credit_limit: Decimal | str = "0"
) -> Wallet:
    errors: dict[str, list[str]] = {}
    try:
        currency = validate_currency(currency)
    except ValidationError as exc:
        errors["currency"] = exc.messages
    if billing not in Wallet.Billing.values:
        errors["billing"] = [f"Billing must be one of {', '.join(Wallet.Billing.values)}."]
    try:
        limit = parse_amount(credit_limit, field="credit_limit")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        limit = Decimal(0)
    if errors:
        raise ValidationError(errors)
    return Wallet.objects.create(client=client, currency=currency, billing=billing, credit_limit=limit)


# --- internals ------------------------------------------------------------------------------------


def _broadcast_uuid(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ValidationError({"broadcast_id": [f"'{value}' is not a UUID."]}, code="invalid") from None


def _lock_wallet(wallet: Wallet) -> Wallet:
    return wallet_for_update(wallet)


def _lock_reservation(locked: Wallet, broadcast_id: uuid.UUID) -> Reservation | None:
    """The broadcast's reservation, locked after its wallet (the fixed lock order)."""
    reservation = reservation_for_update(broadcast_id)
    if reservation is not None and reservation.wallet_id != locked.pk:
        raise ConflictError("This broadcast's credit is held in another wallet.", code="reservation_other_wallet")
    return reservation


def _require_reservation(locked: Wallet, broadcast_id: uuid.UUID) -> Reservation:
    reservation = _lock_reservation(locked, broadcast_id)
    if reservation is None:
        raise ConflictError("No credit is reserved for this broadcast.", code="no_reservation")
    return reservation


def _record(
    locked: Wallet,
    kind: str,
    amount: Decimal,
    *,
    broadcast_id: uuid.UUID | None = None,
    reservation: Reservation | None = None,
    note: str = "",
    created_by: User | None = None,
) -> LedgerEntry:
    """Save the (locked, already changed) wallet and reservation, and write the ledger entry."""
    locked.save(update_fields=["balance", "reserved", "updated_at"])
    if reservation is not None:
        reservation.save()
    return LedgerEntry.objects.create(
        wallet=locked,
        kind=kind,
        amount=amount,
        balance_after=locked.balance,
        reserved_after=locked.reserved,
        broadcast_id=broadcast_id,
        note=(note or "")[:500],
        created_by=created_by,
    )


def _sync(wallet: Wallet, locked: Wallet) -> None:
    """Let the caller's instance see the new figures."""
    wallet.balance, wallet.reserved = locked.balance, locked.reserved
    wallet.billing, wallet.credit_limit = locked.billing, locked.credit_limit


def _insufficient(locked: Wallet, amount: Decimal) -> InsufficientCreditError:
    return InsufficientCreditError(
        f"This needs {amount:f} {locked.currency} but only {locked.available:f} {locked.currency} is available."
    )


# --- top-ups and adjustments ---------------------------------------------------------------------


def wallet_topup(
    *, wallet: Wallet, amount: Decimal | str, note: str = "", created_by: User | None = None
) -> LedgerEntry:
    """Credit the wallet (a payment received)."""
    value = parse_positive_amount(amount)
    with transaction.atomic():
        locked = _lock_wallet(wallet)
        locked.balance += value
        entry = _record(locked, Kind.TOPUP, value, note=note, created_by=created_by)
    _sync(wallet, locked)
    log.info("wallet.topup", client_id=str(wallet.client_id), ledger_entry_id=entry.pk)
    return entry


def wallet_adjust(*, wallet: Wallet, amount: Decimal | str, note: str, created_by: User | None = None) -> LedgerEntry:
    """A staff correction of the balance: `amount` is signed. Never takes available credit below 0."""
    value = parse_amount(amount, allow_negative=True, allow_zero=False)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": ["An adjustment needs a note saying why."]}, code="required")
    with transaction.atomic():
        locked = _lock_wallet(wallet)
        if value < 0 and locked.available < -value:
            raise InsufficientCreditError(
                f"Taking {-value:f} {locked.currency} would leave less than 0 available "
                f"({locked.available:f} {locked.currency} is available)."
            )
        locked.balance += value
        entry = _record(locked, Kind.ADJUSTMENT, value, note=note, created_by=created_by)
    _sync(wallet, locked)
    log.info("wallet.adjust", client_id=str(wallet.client_id), ledger_entry_id=entry.pk)
    return entry


def wallet_set_billing(*, wallet: Wallet, billing: str, credit_limit: Decimal | str) -> Wallet:
    """Change prepaid/postpaid and the credit limit; refused if it would leave less than 0 available."""
    if billing not in Wallet.Billing.values:
        raise ValidationError({"billing": [f"Billing must be one of {', '.join(Wallet.Billing.values)}."]})
    limit = parse_amount(credit_limit, field="credit_limit")
    with transaction.atomic():
        locked = _lock_wallet(wallet)
        locked.billing, locked.credit_limit = billing, limit
        extra = limit if billing == Wallet.Billing.POSTPAID else ZERO
        if locked.balance - locked.reserved + extra < 0:
            raise ConflictError(
                "The wallet owes more than this would allow; top it up or release reservations first.",
                code="credit_limit_too_low",
            )
        locked.save(update_fields=["billing", "credit_limit", "updated_at"])
    _sync(wallet, locked)
    log.info("wallet.billing_set", client_id=str(wallet.client_id), billing=billing)
    return wallet


# --- the credit flow of a broadcast (SPEC §7) -----------------------------------------------------


def wallet_reserve(
    *, wallet: Wallet, amount: Decimal | str, broadcast_id: uuid.UUID | str, note: str = ""
) -> LedgerEntry:
    """Hold `amount` of available credit for the broadcast (its estimated cost, when it is accepted).

    May be called again for the same broadcast to hold more (e.g. to retry failed messages).
    InsufficientCreditError when less than `amount` is available; nothing changes then.
    """
    value = parse_positive_amount(amount)
    bid = _broadcast_uuid(broadcast_id)
    try:
        with transaction.atomic():
            locked = _lock_wallet(wallet)
            reservation = _lock_reservation(locked, bid)
            if locked.available < value:
                raise _insufficient(locked, value)
            if reservation is None:
                reservation = Reservation.objects.create(wallet=locked, broadcast_id=bid)
            locked.reserved += value
            reservation.reserved += value
            entry = _record(locked, Kind.RESERVE, value, broadcast_id=bid, reservation=reservation, note=note)
    except IntegrityError as exc:
        # Another wallet created a reservation with this broadcast id at the same instant.
        if "broadcast_id" in str(exc):
            raise ConflictError(
                "This broadcast's credit is held in another wallet.", code="reservation_other_wallet"
            ) from None
        raise
    _sync(wallet, locked)
    log.info("wallet.reserve", client_id=str(wallet.client_id), broadcast_id=str(bid), ledger_entry_id=entry.pk)
    return entry


def wallet_reserve_each(*, wallet: Wallet, holds: Sequence[tuple[uuid.UUID, Decimal, str]]) -> list[uuid.UUID]:
    """`wallet_reserve` for many new broadcasts at once, in order, under one lock of the wallet: each
    `(broadcast_id, amount, note)` whose amount is still available is held (its reservation and
    ledger entry written in bulk), one that is not is refused and changes nothing. Returns the ids
    held. For a burst of small broadcasts of one client (recurring occurrences, issue 22); each
    broadcast id must be new (no reservation yet)."""
    held: list[uuid.UUID] = []
    with transaction.atomic():
        locked = _lock_wallet(wallet)
        reservations, entries = [], []
        for broadcast_id, amount, note in holds:
            value = parse_positive_amount(amount)
            if locked.available < value:
                continue
            locked.reserved += value
            held.append(broadcast_id)
            reservations.append(Reservation(wallet=locked, broadcast_id=broadcast_id, reserved=value))
            entries.append(
                LedgerEntry(
                    wallet=locked,
                    kind=Kind.RESERVE,
                    amount=value,
                    balance_after=locked.balance,
                    reserved_after=locked.reserved,
                    broadcast_id=broadcast_id,
                    note=(note or "")[:500],
                )
            )
        if held:
            locked.save(update_fields=["balance", "reserved", "updated_at"])
            Reservation.objects.bulk_create(reservations)
            LedgerEntry.objects.bulk_create(entries)
    _sync(wallet, locked)
    log.info("wallet.reserve_each", client_id=str(wallet.client_id), held=len(held), refused=len(holds) - len(held))
    return held


def wallet_capture(
    *, wallet: Wallet, amount: Decimal | str, broadcast_id: uuid.UUID | str, note: str = ""
) -> LedgerEntry:
    """Charge `amount` (a sent batch's cost) out of the broadcast's reservation: balance and reserved both drop.

    ConflictError (`capture_exceeds_reservation`) when the reservation holds less than `amount`
    (`no_reservation`, `reservation_other_wallet` as for a release). The hot path of every sent
    group (broadcasts.recording), so it is one statement (_CAPTURE) rather than the ORM's seven
    round trips (lock_objects.capture_with_locks); what it writes is what _record writes.
    """
    value = parse_positive_amount(amount)
    bid = _broadcast_uuid(broadcast_id)
    now = timezone.now()
    note = (note or "")[:500]
    row = capture_with_locks(wallet_id=wallet.pk, broadcast_id=bid, amount=value, now=now, note=note)
    if row is None:
        with transaction.atomic():
            reservation = _require_reservation(_lock_wallet(wallet), bid)
            raise ConflictError(
                f"Cannot capture {value:f}: the reservation holds only {reservation.outstanding:f}.",
                code="capture_exceeds_reservation",
            )
    entry_id, wallet.balance, wallet.reserved = row
    entry = LedgerEntry(
        pk=entry_id,
        wallet=wallet,
        kind=Kind.CAPTURE,
        amount=value,
        balance_after=wallet.balance,
        reserved_after=wallet.reserved,
        broadcast_id=bid,
        note=note,
        created_at=now,
    )
    entry._state.adding = False  # it is in the table
    log.info("wallet.capture", client_id=str(wallet.client_id), broadcast_id=str(bid), ledger_entry_id=entry.pk)
    return entry


def wallet_release(
    *,
    wallet: Wallet,
    broadcast_id: uuid.UUID | str,
    amount: Decimal | str | None = None,
    keep: Decimal = Decimal(0),
    note: str = "",
) -> LedgerEntry | None:
    """Give back held credit: `amount` of it (messages that never left), or everything left when None
    (cancel, completion) but `keep` (what messages still on their way hold: an edit racing a test send).

    With an amount: ConflictError (`release_exceeds_reservation`) when the reservation holds less.
    With None: idempotent — returns None and writes nothing when nothing (beyond `keep`) is held.
    """
    value = None if amount is None else parse_positive_amount(amount)
    bid = _broadcast_uuid(broadcast_id)
    with transaction.atomic():
        locked = _lock_wallet(wallet)
        if value is None:
            reservation = _lock_reservation(locked, bid)
            if reservation is None or reservation.outstanding <= keep:
                return None
            value = reservation.outstanding - keep
        else:
            reservation = _require_reservation(locked, bid)
            if reservation.outstanding < value:
                raise ConflictError(
                    f"Cannot release {value:f}: the reservation holds only {reservation.outstanding:f}.",
                    code="release_exceeds_reservation",
                )
        locked.reserved -= value
        reservation.released += value
        entry = _record(locked, Kind.RELEASE, value, broadcast_id=bid, reservation=reservation, note=note)
    _sync(wallet, locked)
    log.info("wallet.release", client_id=str(wallet.client_id), broadcast_id=str(bid), ledger_entry_id=entry.pk)
    return entry


def wallet_refund(
    *, wallet: Wallet, amount: Decimal | str, broadcast_id: uuid.UUID | str, note: str = ""
) -> LedgerEntry:
    """Credit back `amount` that was captured for messages that failed after they were sent.

    ConflictError (`refund_exceeds_captured`) when more than captured − already refunded.
    """
    value = parse_positive_amount(amount)
    bid = _broadcast_uuid(broadcast_id)
    with transaction.atomic():
        locked = _lock_wallet(wallet)
        reservation = _require_reservation(locked, bid)
        refundable = reservation.captured - reservation.refunded
        if refundable < value:
            raise ConflictError(
                f"Cannot refund {value:f}: only {refundable:f} was captured and not yet refunded.",
                code="refund_exceeds_captured",
            )
        locked.balance += value
        reservation.refunded += value
        entry = _record(locked, Kind.REFUND, value, broadcast_id=bid, reservation=reservation, note=note)
    _sync(wallet, locked)
    log.info("wallet.refund", client_id=str(wallet.client_id), broadcast_id=str(bid), ledger_entry_id=entry.pk)
    return entry
