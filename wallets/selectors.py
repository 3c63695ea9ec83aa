"""Reads: wallets, the ledger and its replay, reservations, routes priced for a client, quotes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from accounts.models import Client

from .models import ZERO, ExchangeRate, LedgerEntry, PriceOverride, Reservation, Route, Wallet
from .pricing import PriceRoute, Quote, country_segment_cost, quote_messages

Kind = LedgerEntry.Kind
BALANCE_CREDITS = (Kind.TOPUP, Kind.ADJUSTMENT, Kind.REFUND)


def wallet_get(*, client: Client | uuid.UUID | str) -> Wallet | None:
    client_id: Any = client.pk if isinstance(client, Client) else client
    return Wallet.objects.filter(pk=client_id).first()


# --- the ledger ----------------------------------------------------------------------------------


def ledger_entry_list(*, client: Client) -> QuerySet[LedgerEntry]:
    """The client's ledger (its wallet's primary key is the client's id)."""
    return LedgerEntry.objects.filter(wallet_id=client.pk)


def wallet_replay(*, wallet: Wallet) -> tuple[Decimal, Decimal]:
    """(balance, reserved) recomputed from the ledger alone, in one query (SPEC §7)."""

    def total(*kinds: str) -> Coalesce:
        return Coalesce(Sum("amount", filter=Q(kind__in=kinds)), Value(ZERO), output_field=DecimalField())

    sums = LedgerEntry.objects.filter(wallet=wallet).aggregate(
        credits=total(*BALANCE_CREDITS),
        captured=total(Kind.CAPTURE),
        reserved=total(Kind.RESERVE),
        released=total(Kind.RELEASE),
    )
    balance = sums["credits"] - sums["captured"]
    reserved = sums["reserved"] - sums["released"] - sums["captured"]
    return balance, reserved


def ledger_mismatches(*, wallet: Wallet) -> list[int]:
    """Ids of entries whose balance_after / reserved_after disagree with replaying the entries before them."""
    balance = reserved = ZERO
    wrong: list[int] = []
    for entry in LedgerEntry.objects.filter(wallet=wallet).order_by("id").iterator():
        if entry.kind in BALANCE_CREDITS:
            balance += entry.amount
        elif entry.kind == Kind.CAPTURE:
            balance -= entry.amount
            reserved -= entry.amount
        elif entry.kind == Kind.RESERVE:
            reserved += entry.amount
        elif entry.kind == Kind.RELEASE:
            reserved -= entry.amount
        if (entry.balance_after, entry.reserved_after) != (balance, reserved):
            wrong.append(entry.pk)
    return wrong


# --- reservations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReservationState:
    broadcast_id: uuid.UUID
    wallet_id: uuid.UUID
    reserved: Decimal  # everything ever reserved for the broadcast
    captured: Decimal
    released: Decimal
    refunded: Decimal

    @property
    def outstanding(self) -> Decimal:
        """Still held: reserved − captured − released."""
        return self.reserved - self.captured - self.released

    @property
    def charged(self) -> Decimal:
        """What the broadcast cost in the end so far: captured − refunded."""
        return self.captured - self.refunded


def reservation_state(*, broadcast_id: uuid.UUID | str) -> ReservationState | None:
    reservation = Reservation.objects.filter(broadcast_id=broadcast_id).first()
    if reservation is None:
        return None
    return ReservationState(
        broadcast_id=reservation.broadcast_id,
        wallet_id=reservation.wallet_id,
        reserved=reservation.reserved,
        captured=reservation.captured,
        released=reservation.released,
        refunded=reservation.refunded,
    )


# --- routes, prices, quotes ----------------------------------------------------------------------


def exchange_rates() -> dict[tuple[str, str], Decimal]:
    return {(r.from_currency, r.to_currency): r.rate for r in ExchangeRate.objects.all()}


def price_list(
    *, client: Client | uuid.UUID, channel: str | None = None, country: str | None = None
) -> QuerySet[Route]:
    """Active routes with the client's price: `price` and `price_currency` (its override, else the route's)."""
    overrides = PriceOverride.objects.filter(client=client, route=OuterRef("pk"))
    client_id = getattr(client, "pk", client)
    # A tenant's own connector (SPEC §10) serves only that tenant: another's routes through it are
    # not this client's to see or take; this client's own come first (PriceRoute.own). The table is
    # named, not imported: connectors are the broadcasts app's, which builds on this one.
    routes = Route.objects.filter(active=True).exclude(
        connector__in=RawSQL(
            "SELECT name FROM broadcasts_connector WHERE client_id IS NOT NULL AND client_id <> %s", [client_id]
        )
    )
    if channel:
        routes = routes.filter(channel=channel)
    if country:
        routes = routes.filter(country_code=country.upper())
    own = Q(connector__in=RawSQL("SELECT name FROM broadcasts_connector WHERE client_id = %s", [client_id]))
    return routes.annotate(
        own=ExpressionWrapper(own, output_field=BooleanField()),
        override_price=Subquery(overrides.values("price_per_segment")[:1]),
        override_currency=Subquery(overrides.values("currency")[:1]),
    ).annotate(
        price=Coalesce(F("override_price"), F("price_per_segment")),
        price_currency=Case(
            When(Q(override_price__isnull=False) & ~Q(override_currency=""), then=F("override_currency")),
            default=F("currency"),
        ),
    )


def price_routes(*, client: Client | uuid.UUID, channel: str) -> list[PriceRoute]:
    """The channel's active routes as the client pays for them (overrides applied), in one query."""
    return [
        PriceRoute(
            route_id=route.pk,
            channel=route.channel,
            tier=route.tier,
            country_code=route.country_code,
            prefix=route.prefix,
            route_code=route.route_code,
            connector=route.connector,
            currency=route.price_currency,  # type: ignore[attr-defined]
            price_per_segment=route.price,  # type: ignore[attr-defined]
            overridden=route.override_price is not None,  # type: ignore[attr-defined]
            own=bool(route.own),  # type: ignore[attr-defined]
        )
        for route in price_list(client=client, channel=channel)
    ]


def quote_for_wallet(
    *,
    wallet: Wallet,
    recipients: Iterable[tuple[str, int]],
    channel: str,
    tier: str = "premium",
    route_code: str | None = None,
) -> Quote:
    """Price recipients for the wallet's client (two queries: its routes, the exchange rates).

    `quote.pricing(balance=wallet.balance, available=wallet.available)` gives SPEC §8's precheck fields.
    """
    return quote_messages(
        recipients=recipients,
        channel=channel,
        wallet_currency=wallet.currency,
        routes=price_routes(client=wallet.client_id, channel=channel),
        rates=exchange_rates(),
        tier=tier,
        route_code=route_code or None,
    )


def segment_cost_for_country(*, wallet: Wallet, country_code: str, channel: str, tier: str) -> Decimal | None:
    """One segment to `country_code` in the wallet's currency for its client (pricing.country_segment_cost)."""
    return country_segment_cost(
        routes=price_routes(client=wallet.client_id, channel=channel),
        country_code=country_code,
        channel=channel,
        tier=tier,
        wallet_currency=wallet.currency,
        rates=exchange_rates(),
    )
