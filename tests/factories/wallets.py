from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from accounts.models import Client
from tests.factories.accounts import ClientFactory
from wallets.models import ExchangeRate, PriceOverride, Route, Wallet
from wallets.services import wallet_create, wallet_topup


class WalletFactory(DjangoModelFactory[Wallet]):
    """An empty wallet. Use make_wallet() for one with money: its balance must come from the ledger."""

    class Meta:
        model = Wallet

    client = factory.SubFactory(ClientFactory)
    currency = "USD"


def make_wallet(
    *,
    balance: str | Decimal = "0",
    currency: str = "USD",
    billing: str = "prepaid",
    credit_limit: str | Decimal = "0",
    client: Client | None = None,
) -> Wallet:
    wallet = wallet_create(
        client=client or ClientFactory(), currency=currency, billing=billing, credit_limit=credit_limit
    )
    if Decimal(balance) > 0:
        wallet_topup(wallet=wallet, amount=balance, note="opening balance")
    return wallet


class RouteFactory(DjangoModelFactory[Route]):
    class Meta:
        model = Route

    channel = "sms"
    country_code = "UG"
    prefix = ""
    route_code = factory.Sequence(lambda n: f"R{n}")
    connector = "simulator"
    currency = "UGX"
    price_per_segment = Decimal("35.00")
    tier = "premium"


class ExchangeRateFactory(DjangoModelFactory[ExchangeRate]):
    class Meta:
        model = ExchangeRate
        django_get_or_create = ("from_currency", "to_currency")

    from_currency = "UGX"
    to_currency = "USD"
    rate = Decimal("0.000268571")


class PriceOverrideFactory(DjangoModelFactory[PriceOverride]):
    class Meta:
        model = PriceOverride

    client = factory.SubFactory(ClientFactory)
    route = factory.SubFactory(RouteFactory)
    price_per_segment = Decimal("30.00")
    currency = ""
