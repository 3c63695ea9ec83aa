"""quote_for_wallet: the client's routes, its own prices and the exchange rates, loaded in two queries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories.wallets import ExchangeRateFactory, PriceOverrideFactory, RouteFactory, make_wallet
from wallets.demo import seed_demo_routes
from wallets.models import ExchangeRate, Route
from wallets.selectors import quote_for_wallet

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def ug_routes():
    ExchangeRateFactory()  # 1 UGX = 0.000268571 USD
    country = RouteFactory(route_code="ESMS_UG", price_per_segment=D("35.00"))
    mtn = RouteFactory(route_code="MTN_UG", prefix="25677", price_per_segment=D("32.00"))
    return country, mtn


def codes_and_costs(quote):
    return [(m.route_code, m.route_cost, m.currency) if m else None for m in quote.messages]


def test_a_client_price_overrides_the_route_price_for_that_client_only(ug_routes):
    country, _ = ug_routes
    ours, theirs = make_wallet(balance="10"), make_wallet(balance="10")
    PriceOverrideFactory(client=ours.client, route=country, price_per_segment=D("30.00"))
    recipients = [("+256701000001", 2)]
    assert codes_and_costs(quote_for_wallet(wallet=ours, recipients=recipients, channel="sms")) == [
        ("ESMS_UG", D("60"), "UGX")
    ]
    assert codes_and_costs(quote_for_wallet(wallet=theirs, recipients=recipients, channel="sms")) == [
        ("ESMS_UG", D("70"), "UGX")
    ]


def test_the_prefix_route_is_chosen_before_any_price_is_applied(ug_routes):
    """Precedence: longest prefix → the route; then the client's price for that route, else its own."""
    country, mtn = ug_routes
    wallet = make_wallet(balance="10")
    PriceOverrideFactory(client=wallet.client, route=country, price_per_segment=D("1.00"))
    quote = quote_for_wallet(wallet=wallet, recipients=[("+256772000001", 1), ("+256701000001", 1)], channel="sms")
    assert codes_and_costs(quote) == [("MTN_UG", D("32"), "UGX"), ("ESMS_UG", D("1"), "UGX")]
    PriceOverrideFactory(client=wallet.client, route=mtn, price_per_segment=D("2.00"))
    quote = quote_for_wallet(wallet=wallet, recipients=[("+256772000001", 1)], channel="sms")
    assert codes_and_costs(quote) == [("MTN_UG", D("2"), "UGX")]


def test_an_override_may_price_in_another_currency(ug_routes):
    country, _ = ug_routes
    wallet = make_wallet(balance="10")
    PriceOverrideFactory(client=wallet.client, route=country, price_per_segment=D("0.007"), currency="USD")
    quote = quote_for_wallet(wallet=wallet, recipients=[("+256701000001", 3)], channel="sms")
    assert codes_and_costs(quote) == [("ESMS_UG", D("0.021"), "USD")]
    assert quote.total_cost == D("0.021")


def test_an_override_can_make_another_route_the_cheapest(ug_routes):
    other = RouteFactory(route_code="OTHER_UG", price_per_segment=D("40.00"))
    wallet = make_wallet(balance="10")
    assert quote_for_wallet(wallet=wallet, recipients=[("+256701000001", 1)], channel="sms").messages[0].route_code == (
        "ESMS_UG"
    )
    PriceOverrideFactory(client=wallet.client, route=other, price_per_segment=D("20.00"))
    quote = quote_for_wallet(wallet=wallet, recipients=[("+256701000001", 1)], channel="sms")
    assert quote.messages[0].route_code == "OTHER_UG"


def test_inactive_routes_are_not_offered(ug_routes):
    country, _ = ug_routes
    Route.objects.filter(pk=country.pk).update(active=False)
    wallet = make_wallet(balance="10")
    quote = quote_for_wallet(wallet=wallet, recipients=[("+256701000001", 1)], channel="sms")
    assert quote.unroutable_count == 1


def test_a_quote_costs_two_queries_whatever_its_size(ug_routes, django_assert_num_queries):
    wallet = make_wallet(balance="10")
    recipients = [(f"+2567{i % 10}{i:07d}", 1 + i % 3) for i in range(2000)]
    with django_assert_num_queries(2):
        quote = quote_for_wallet(wallet=wallet, recipients=recipients, channel="sms")
    assert quote.total_contacts == 2000


def test_demo_routes_price_the_seed_example_and_are_idempotent():
    assert seed_demo_routes() == seed_demo_routes()
    assert Route.objects.filter(route_code="ESMS_UG", price_per_segment=D("35.00"), connector="simulator").count() == 1
    assert ExchangeRate.objects.get(from_currency="UGX", to_currency="USD").rate == D("0.000268571")
    wallet = make_wallet(balance="5000")
    recipients = [(f"+2567721{i:05d}", 1) for i in range(100)] + [(f"+2567722{i:05d}", 2) for i in range(50)]
    pricing = quote_for_wallet(wallet=wallet, recipients=recipients, channel="sms").pricing(
        balance=wallet.balance, available=wallet.available
    )
    assert (pricing["total_cost"], pricing["balance_after"]) == ("1.880000", "4998.120000")
    for channel, address in [("whatsapp", "+33612345678"), ("rcs", "+447400123456"), ("telegram", "12345")]:
        assert quote_for_wallet(wallet=wallet, recipients=[(address, 1)], channel=channel).total_contacts == 1
    for currency in ("USD", "EUR"):
        wallet = make_wallet(currency=currency)
        for country in (
            "+256701000001",
            "+254712345678",
            "+2348031234567",
            "+33612345678",
            "+12025550173",
            "+447400123456",
        ):
            for tier in ("premium", "low_cost"):
                quote = quote_for_wallet(wallet=wallet, recipients=[(country, 1)], channel="sms", tier=tier)
                assert quote.total_contacts == 1, (currency, country, tier)
