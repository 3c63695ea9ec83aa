"""Demo price list: simulator routes and exchange rates. Idempotent; dashboard's seed_demo calls it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from .models import CATCH_ALL_COUNTRY, ExchangeRate, Route, Tier

CONNECTOR = "simulator"

# country: (currency, premium route code, premium price, low-cost price) per SMS part, in local currency.
SMS_PRICES = {
    "UG": ("UGX", "ESMS_UG", "35.00", "28.00"),  # ESMS_UG at 35.00 UGX: the precheck's worked example
    "KE": ("KES", "SIM_KE", "1.20", "0.90"),
    "NG": ("NGN", "SIM_NG", "6.50", "4.80"),
    "FR": ("EUR", "SIM_FR", "0.065", "0.045"),
    "US": ("USD", "SIM_US", "0.0079", "0.0059"),
    "GB": ("GBP", "SIM_GB", "0.035", "0.028"),
}
# Per message, in USD (as Meta and most RCS aggregators price them).
WHATSAPP_PRICES = {"UG": "0.0080", "KE": "0.0107", "NG": "0.0052", "FR": "0.0768", "US": "0.0040", "GB": "0.0358"}
RCS_PRICES = {"UG": "0.0060", "KE": "0.0060", "NG": "0.0050", "FR": "0.0300", "US": "0.0070", "GB": "0.0250"}
TELEGRAM_PRICE = "0.0010"  # any destination (chat ids have no country)

RATES_TO = {
    "USD": {"UGX": "0.000268571", "KES": "0.0077", "NGN": "0.00065", "EUR": "1.08", "GBP": "1.27"},
    "EUR": {"UGX": "0.000248677", "KES": "0.00713", "NGN": "0.000602", "USD": "0.925926", "GBP": "1.176"},
}


def _route(
    *, channel: str, country: str, code: str, currency: str, price: str, tier: str = Tier.PREMIUM
) -> tuple[dict[str, Any], dict[str, Any]]:
    key = {"channel": channel, "tier": tier, "country_code": country, "prefix": "", "route_code": code}
    values: dict[str, Any] = {
        "connector": CONNECTOR,
        "currency": currency,
        "price_per_segment": Decimal(price),
        "active": True,
    }
    return key, values


def demo_routes() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    routes = []
    for country, (currency, code, premium, low_cost) in SMS_PRICES.items():
        routes.append(_route(channel="sms", country=country, code=code, currency=currency, price=premium))
        routes.append(
            _route(
                channel="sms",
                country=country,
                code=f"SIM_{country}_LC",
                currency=currency,
                price=low_cost,
                tier=Tier.LOW_COST,
            )
        )
    for channel, prices in (("whatsapp", WHATSAPP_PRICES), ("rcs", RCS_PRICES)):
        for country, price in prices.items():
            code = f"SIM_{channel.upper()}_{country}"
            routes.append(_route(channel=channel, country=country, code=code, currency="USD", price=price))
    routes.append(
        _route(channel="telegram", country=CATCH_ALL_COUNTRY, code="SIM_TELEGRAM", currency="USD", price=TELEGRAM_PRICE)
    )
    return routes


def seed_demo_routes() -> int:
    """Create or refresh the demo routes and exchange rates; returns the number of routes."""
    routes = demo_routes()
    with transaction.atomic():
        for key, values in routes:
            Route.objects.update_or_create(**key, defaults=values)
        for target, rates in RATES_TO.items():
            for source, rate in rates.items():
                ExchangeRate.objects.update_or_create(
                    from_currency=source, to_currency=target, defaults={"rate": Decimal(rate)}
                )
    return len(routes)
