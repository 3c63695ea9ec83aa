"""Writes to wallets. Each is one short transaction: lock the wallet row, change it, write the ledger."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pycountry
import structlog
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Client, User

from .models import LedgerEntry, Wallet

log = structlog.get_logger(__name__)
QUANTUM = Decimal("0.000001")


def validate_currency(value: str) -> str:
    code = (value or "").strip().upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValidationError(f"'{value}' is not an ISO 4217 currency code (e.g. USD).", code="invalid_currency")
    return code


def parse_amount(value: object, *, field: str = "amount", allow_negative: bool = False) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(QUANTUM)
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [f"'{value}' is not a number."]}, code="invalid_amount") from None
    if not amount.is_finite() or (amount < 0 and not allow_negative):
        raise ValidationError({field: [f"'{value}' must be a positive amount."]}, code="invalid_amount")
    return amount


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


def wallet_topup(
    *, wallet: Wallet, amount: Decimal | str, note: str = "", created_by: User | None = None
) -> LedgerEntry:
    value = parse_amount(amount)
    if value <= 0:
        raise ValidationError({"amount": ["A top-up must be more than 0."]}, code="invalid_amount")
    with transaction.atomic():
        locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
        locked.balance += value
        locked.save(update_fields=["balance", "updated_at"])
        entry = LedgerEntry.objects.create(
            wallet=locked,
            kind=LedgerEntry.Kind.TOPUP,
            amount=value,
            balance_after=locked.balance,
            reserved_after=locked.reserved,
            note=note[:500],
            created_by=created_by,
        )
    wallet.balance, wallet.reserved = locked.balance, locked.reserved
    log.info("wallet.topup", client_id=str(wallet.client_id), ledger_entry_id=entry.pk)
    return entry
