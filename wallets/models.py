"""Wallets and their immutable ledger. Money is Decimal with 6 places, never float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F, Q

from accounts.models import Client, User

ZERO = Decimal("0")


class MoneyField(models.DecimalField):
    """A Decimal with 6 places (SPEC §7), wide enough for any currency's totals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 6)
        super().__init__(*args, **kwargs)


class Wallet(models.Model):
    class Billing(models.TextChoices):
        PREPAID = "prepaid", "Prepaid"
        POSTPAID = "postpaid", "Postpaid"

    client = models.OneToOneField(Client, on_delete=models.CASCADE, primary_key=True, related_name="wallet")
    currency = models.CharField(max_length=3, help_text="ISO 4217, e.g. USD.")
    balance = MoneyField(default=ZERO)
    reserved = MoneyField(default=ZERO)
    billing = models.CharField(max_length=16, choices=Billing.choices, default=Billing.PREPAID)
    credit_limit = MoneyField(default=ZERO, help_text="How far below zero a postpaid wallet may go.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(reserved__gte=0), name="wallet_reserved_not_negative"),
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="wallet_credit_limit_not_negative"),
            # available = balance − reserved (+ credit_limit when postpaid) never goes below 0.
            models.CheckConstraint(
                condition=Q(billing="prepaid", balance__gte=F("reserved"))
                | Q(billing="postpaid", balance__gte=F("reserved") - F("credit_limit")),
                name="wallet_available_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} ({self.currency})"

    @property
    def available(self) -> Decimal:
        extra = self.credit_limit if self.billing == self.Billing.POSTPAID else ZERO
        return max(ZERO, self.balance - self.reserved + extra)


class LedgerEntry(models.Model):
    """One movement of money. Never updated or deleted; balance and reserved replay from these rows.

    Signs: `amount` is positive for every kind except `adjustment`, which carries its sign.
    topup/adjustment/refund add to balance; capture takes from balance and reserved together;
    reserve adds to reserved; release takes from reserved.
    """

    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        ADJUSTMENT = "adjustment", "Adjustment"
        RESERVE = "reserve", "Reserve"
        RELEASE = "release", "Release"
        CAPTURE = "capture", "Capture"
        REFUND = "refund", "Refund"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = MoneyField()
    balance_after = MoneyField()
    reserved_after = MoneyField()
    # Plain id, not a ForeignKey: wallets sits below broadcasts in the dependency order.
    broadcast_id = models.UUIDField(null=True, blank=True, db_index=True)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="adjustment") | Q(amount__gt=0), name="ledger_amount_positive_unless_adjustment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.wallet_id})"
