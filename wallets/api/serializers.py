from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallets.models import LedgerEntry, Route, Wallet
from wallets.pricing import convert, country_name, rate_between


def money_field(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True, read_only=True, **kwargs)


class WalletSerializer(serializers.ModelSerializer[Wallet]):
    balance = money_field()
    reserved = money_field()
    available = money_field(help_text="What can still be spent: balance − reserved (+ credit_limit when postpaid).")
    credit_limit = money_field()

    class Meta:
        model = Wallet
        fields = ["currency", "balance", "reserved", "available", "billing", "credit_limit", "updated_at"]
        read_only_fields = fields


class LedgerEntrySerializer(serializers.ModelSerializer[LedgerEntry]):
    amount = money_field(help_text="Positive, except adjustments, which carry their sign.")
    balance_after = money_field()
    reserved_after = money_field()
    broadcast = serializers.UUIDField(source="broadcast_id", read_only=True, allow_null=True)

    class Meta:
        model = LedgerEntry
        fields = ["id", "kind", "amount", "balance_after", "reserved_after", "broadcast", "note", "created_at"]
        read_only_fields = fields


class PriceSerializer(serializers.ModelSerializer[Route]):
    """A route as this client pays for it. Context: `wallet_currency`, `rates`."""

    country_name = serializers.SerializerMethodField()
    currency = serializers.CharField(source="price_currency", read_only=True)
    price_per_segment = money_field(source="price", help_text="Per SMS part; per message for other channels.")
    wallet_currency = serializers.SerializerMethodField()
    wallet_price_per_segment = serializers.SerializerMethodField(
        help_text="The price in the wallet's currency, 6 places; null when no exchange rate is set."
    )
    custom_price = serializers.SerializerMethodField(help_text="True when this client has its own price.")

    class Meta:
        model = Route
        fields = [
            "id",
            "channel",
            "country_code",
            "country_name",
            "prefix",
            "route_code",
            "tier",
            "currency",
            "price_per_segment",
            "wallet_currency",
            "wallet_price_per_segment",
            "custom_price",
        ]
        read_only_fields = fields

    def get_country_name(self, route: Route) -> str:
        return country_name(route.country_code)

    def get_wallet_currency(self, route: Route) -> str:
        return str(self.context["wallet_currency"])

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_wallet_price_per_segment(self, route: Route) -> str | None:
        price: Decimal = route.price  # type: ignore[attr-defined]
        rate = rate_between(self.context["rates"], route.price_currency, self.context["wallet_currency"])  # type: ignore[attr-defined]
        return None if rate is None else f"{convert(price, rate):f}"

    def get_custom_price(self, route: Route) -> bool:
        return route.override_price is not None  # type: ignore[attr-defined]
