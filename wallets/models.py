"""Wallets, their immutable ledger, per-broadcast reservations, price routes and exchange rates.

Money is Decimal with 6 places, never float. Every invariant the services keep is also a
CheckConstraint, so a bug (or a hand-written UPDATE) cannot break it silently.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F, Q

from accounts.channels import Channel
from accounts.models import Client, User

ZERO = Decimal("0")
CATCH_ALL_COUNTRY = "ZZ"  # phonenumbers' "unknown region": a route for any destination (and for chat ids)


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
            models.CheckConstraint(condition=Q(billing__in=["prepaid", "postpaid"]), name="wallet_billing_valid"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="wallet_currency_iso"),
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
        indexes = [models.Index(fields=["wallet", "-created_at", "-id"], name="ledger_wallet_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="adjustment") | Q(amount__gt=0), name="ledger_amount_positive_unless_adjustment"
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(kind__in=["topup", "adjustment", "reserve", "release", "capture", "refund"]),
                name="ledger_kind_valid",
            ),
            models.CheckConstraint(condition=Q(reserved_after__gte=0), name="ledger_reserved_after_not_negative"),
            # Credit movements for a broadcast carry its id; top-ups and adjustments never do.
            models.CheckConstraint(
                condition=Q(kind__in=["topup", "adjustment"], broadcast_id__isnull=True)
                | Q(kind__in=["reserve", "release", "capture", "refund"], broadcast_id__isnull=False),
                name="ledger_broadcast_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.wallet_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Ledger entries are immutable; write a new entry (e.g. an adjustment) instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Ledger entries are immutable and are never deleted.")


class Reservation(models.Model):
    """The credit held for one broadcast, and what became of it.

    `reserved` is everything ever reserved for the broadcast; what it still holds is
    reserved − captured − released. Locked together with its wallet (wallet first) by every service.
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="reservations")
    broadcast_id = models.UUIDField(unique=True)
    reserved = MoneyField(default=ZERO)
    captured = MoneyField(default=ZERO)
    released = MoneyField(default=ZERO)
    refunded = MoneyField(default=ZERO)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reserved__gte=0, captured__gte=0, released__gte=0, refunded__gte=0),
                name="reservation_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=F("captured") + F("released")), name="reservation_within_reserved"
            ),
            models.CheckConstraint(condition=Q(captured__gte=F("refunded")), name="reservation_refund_within_captured"),
        ]

    def __str__(self) -> str:
        return f"reservation {self.broadcast_id} ({self.outstanding} held)"

    @property
    def outstanding(self) -> Decimal:
        return self.reserved - self.captured - self.released


class Tier(models.TextChoices):
    PREMIUM = "premium", "Premium"
    LOW_COST = "low_cost", "Low cost"


class Route(models.Model):
    """A price for sending to a country (or a number prefix within it) on a channel and tier.

    `connector` is the connector's name, not a ForeignKey: connectors live in broadcasts, above us.
    `prefix` holds E.164 digits without '+', starting with the country's calling code (e.g. 25677);
    empty means the whole country. Country ZZ is a catch-all for any destination.
    """

    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.SMS)
    country_code = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2; ZZ for any destination.")
    prefix = models.CharField(
        max_length=15, blank=True, default="", help_text="E.164 digits without '+', e.g. 25677; empty: whole country."
    )
    route_code = models.CharField(max_length=64)
    connector = models.CharField(max_length=100, help_text="The name of the connector that sends this route.")
    currency = models.CharField(max_length=3)
    price_per_segment = MoneyField(help_text="Per SMS part; per message for other channels.")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.PREMIUM)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel", "country_code", "prefix", "tier", "route_code"]
        indexes = [models.Index(fields=["channel", "active"], name="route_channel_active")]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "tier", "country_code", "prefix", "route_code"], name="route_unique_destination"
            ),
            models.CheckConstraint(condition=Q(price_per_segment__gte=0), name="route_price_not_negative"),
            models.CheckConstraint(condition=Q(prefix__regex=r"^[0-9]{0,15}$"), name="route_prefix_digits"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="route_currency_iso"),
            models.CheckConstraint(condition=Q(country_code__regex=r"^[A-Z]{2}$"), name="route_country_alpha2"),
            models.CheckConstraint(condition=Q(tier__in=["premium", "low_cost"]), name="route_tier_valid"),
            models.CheckConstraint(
                condition=Q(channel__in=["sms", "whatsapp", "telegram", "rcs"]), name="route_channel_valid"
            ),
            models.CheckConstraint(condition=~Q(route_code=""), name="route_code_not_empty"),
        ]

    def __str__(self) -> str:
        where = f"+{self.prefix}" if self.prefix else self.country_code
        return f"{self.route_code} {self.channel}/{self.tier} {where} {self.price_per_segment} {self.currency}"


class ExchangeRate(models.Model):
    """1 `from_currency` = `rate` `to_currency`. Only the direct rate is used, never its inverse."""

    from_currency = models.CharField(max_length=3)
    to_currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=24, decimal_places=12)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["from_currency", "to_currency"]
        constraints = [
            models.UniqueConstraint(fields=["from_currency", "to_currency"], name="exchangerate_unique_pair"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchangerate_rate_positive"),
            models.CheckConstraint(condition=~Q(from_currency=F("to_currency")), name="exchangerate_distinct_pair"),
            models.CheckConstraint(
                condition=Q(from_currency__regex=r"^[A-Z]{3}$", to_currency__regex=r"^[A-Z]{3}$"),
                name="exchangerate_currency_iso",
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.from_currency} = {self.rate} {self.to_currency}"


class PriceOverride(models.Model):
    """A client's own price for one route, set by staff. Blank currency means the route's currency."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="price_overrides")
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="overrides")
    price_per_segment = MoneyField()
    currency = models.CharField(max_length=3, blank=True, help_text="Blank: the route's currency.")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["client", "route"]
        constraints = [
            models.UniqueConstraint(fields=["client", "route"], name="priceoverride_unique_client_route"),
            models.CheckConstraint(condition=Q(price_per_segment__gte=0), name="priceoverride_price_not_negative"),
            models.CheckConstraint(
                condition=Q(currency="") | Q(currency__regex=r"^[A-Z]{3}$"), name="priceoverride_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client}: {self.price_per_segment} {self.currency or '(route currency)'} for {self.route_id}"
