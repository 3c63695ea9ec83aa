"""The quote engine (pure) and the precheck's pricing fields of SPEC §8."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from wallets.pricing import (
    INVALID_NUMBER,
    NO_EXCHANGE_RATE,
    NO_ROUTE,
    PriceRoute,
    quote_messages,
)

D = Decimal
RATES = {("UGX", "USD"): D("0.000268571"), ("KES", "USD"): D("0.0077"), ("EUR", "USD"): D("1.08")}
_ids = iter(range(1, 10_000))


def route(code: str, country: str = "UG", price: str = "35.00", currency: str = "UGX", **extra: object) -> PriceRoute:
    fields: dict[str, object] = {
        "route_id": next(_ids),
        "channel": "sms",
        "tier": "premium",
        "country_code": country,
        "prefix": "",
        "route_code": code,
        "connector": "simulator",
        "currency": currency,
        "price_per_segment": D(price),
    }
    fields.update(extra)
    return PriceRoute(**fields)  # type: ignore[arg-type]


def ug(n: int, prefix: str = "25677") -> str:
    return f"+{prefix}{n:07d}"[:13]


def quote(recipients, routes, **kwargs):
    kwargs.setdefault("channel", "sms")
    kwargs.setdefault("wallet_currency", "USD")
    kwargs.setdefault("rates", RATES)
    return quote_messages(recipients=recipients, routes=routes, **kwargs)


def test_the_seed_worked_example():
    """ESMS_UG at 35.00 UGX a part, a USD wallet, 1 UGX = 0.000268571 USD: 150 contacts, 200 parts."""
    recipients = [(f"+2567721{i:05d}", 1) for i in range(100)] + [(f"+2567722{i:05d}", 2) for i in range(50)]
    recipients += [("+000000000", 1), ("+999000111", 1)]
    result = quote(recipients, [route("ESMS_UG")])
    pricing = result.pricing(balance=D("5000"), available=D("5000"))
    assert pricing == {
        "total_contacts": 150,
        "total_segments": 200,
        "total_cost": "1.880000",
        "wallet_currency": "USD",
        "wallet_balance": "5000.000000",
        "wallet_available": "5000.000000",
        "balance_after": "4998.120000",
        "sufficient_balance": True,
        "countries": 1,
        "breakdown": [
            {
                "country_code": "UG",
                "country_name": "Uganda",
                "currency": "UGX",
                "route_code": "ESMS_UG",
                "contacts": 150,
                "segments": 200,
                "route_cost": "7000.000000",
                "wallet_cost": "1.880000",
                "price_per_segment": "35.000000",
            }
        ],
        "unroutable_count": 2,
        "unroutable": ["+000000000", "+999000111"],
    }
    assert D(pricing["total_cost"]).quantize(D("0.01")) == D("1.88")
    assert result.unroutable_reasons == {NO_ROUTE: 2}
    # Every message's cost is known, and they add up to the total exactly.
    assert sum(m.wallet_cost for m in result.messages if m) == result.total_cost
    assert {(m.segments, m.route_cost, m.wallet_cost) for m in result.messages if m} == {
        (1, D("35.00"), D("0.009400")),
        (2, D("70.00"), D("0.018800")),
    }


def test_insufficient_balance_and_balance_after():
    result = quote([(ug(i), 1) for i in range(1000)], [route("ESMS_UG")])
    assert result.total_cost == D("9.4")
    pricing = result.pricing(balance=D("10"), available=D("9.399999"))  # 0.600001 reserved elsewhere
    # SPEC §8: balance_after is what would be left to spend (available − cost), never the balance
    # minus the cost (0.600000 here, which hid the other broadcast's reservation).
    assert (pricing["sufficient_balance"], pricing["wallet_available"]) == (False, "9.399999")
    assert pricing["balance_after"] == "-0.000001"
    assert result.pricing(balance=D("-2"), available=D("9.4"))["sufficient_balance"] is True


def test_the_longest_prefix_wins_over_shorter_ones_and_the_country_route():
    routes = [
        route("ESMS_UG", price="35"),
        route("MTN_UG", price="30", prefix="25677"),
        route("MTN_UG_772", price="25", prefix="256772"),
    ]
    result = quote([("+256772000001", 1), ("+256778000001", 1), ("+256701000001", 1)], routes)
    assert [m.route_code for m in result.messages] == ["MTN_UG_772", "MTN_UG", "ESMS_UG"]
    assert [m.route_cost for m in result.messages] == [D("25"), D("30"), D("35")]
    assert [(line.route_code, line.contacts) for line in result.breakdown] == [
        ("ESMS_UG", 1),
        ("MTN_UG", 1),
        ("MTN_UG_772", 1),
    ]
    assert result.countries == 1


def test_a_forced_route_code_serves_only_what_it_can():
    routes = [route("ESMS_UG"), route("AIRTEL_UG", price="20", prefix="25670"), route("SAF_KE", "KE", "1", "KES")]
    result = quote([("+256701000001", 1), ("+256772000001", 1), ("+254712345678", 1)], routes, route_code="AIRTEL_UG")
    assert [m.route_code if m else None for m in result.messages] == ["AIRTEL_UG", None, None]
    assert (result.unroutable_count, result.unroutable) == (2, ["+256772000001", "+254712345678"])


def test_a_forced_route_code_may_be_of_the_other_tier():
    routes = [route("ESMS_UG"), route("CHEAP_UG", price="20", tier="low_cost")]
    result = quote([("+256701000001", 1)], routes, route_code="CHEAP_UG")
    assert result.messages[0].route_code == "CHEAP_UG"


def test_an_unknown_forced_route_code_is_a_clear_error():
    with pytest.raises(ValidationError, match="no sms route with the code 'NOPE'"):
        quote([("+256701000001", 1)], [route("ESMS_UG")], route_code="NOPE")


def test_low_cost_tier_takes_the_low_cost_routes_only():
    routes = [route("ESMS_UG"), route("CHEAP_UG", price="20", tier="low_cost"), route("SAF_KE", "KE", "1", "KES")]
    result = quote([("+256701000001", 2), ("+254712345678", 1)], routes, tier="low_cost")
    assert result.messages[0].route_code == "CHEAP_UG"
    assert result.messages[0].route_cost == D("40")
    assert result.messages[1] is None  # no low-cost route to Kenya
    assert quote([("+256701000001", 1)], routes).messages[0].route_code == "ESMS_UG"


def test_the_cheapest_route_in_the_wallet_currency_wins_a_tie_of_prefixes():
    # 35 UGX = 0.0094 USD is cheaper than 0.01 EUR = 0.0108 USD.
    routes = [route("EURO_UG", price="0.01", currency="EUR"), route("ESMS_UG", price="35")]
    assert quote([("+256701000001", 1)], routes).messages[0].route_code == "ESMS_UG"


def test_non_sms_channels_cost_one_unit_per_message():
    routes = [route("WA_UG", price="0.008", currency="USD", channel="whatsapp"), route("ESMS_UG")]
    result = quote([("+256701000001", 3), ("+256701000002", 7)], routes, channel="whatsapp")
    assert [(m.route_code, m.segments, m.wallet_cost) for m in result.messages] == [
        ("WA_UG", 1, D("0.008")),
        ("WA_UG", 1, D("0.008")),
    ]
    assert (result.total_segments, result.total_cost) == (2, D("0.016"))


def test_telegram_chat_ids_take_the_catch_all_route():
    routes = [route("TG", country="ZZ", price="0.001", currency="USD", channel="telegram")]
    result = quote([("123456789", 4), ("+256701000001", 1)], routes, channel="telegram")
    assert [m.route_code for m in result.messages] == ["TG", "TG"]
    assert result.breakdown[0].as_dict()["country_name"] == "Any destination"


def test_a_catch_all_route_serves_countries_without_their_own():
    routes = [route("ESMS_UG"), route("WORLD", country="ZZ", price="0.05", currency="USD")]
    result = quote([("+256701000001", 1), ("+33612345678", 1), ("+999000111", 1)], routes)
    assert [m.route_code for m in result.messages] == ["ESMS_UG", "WORLD", "WORLD"]


def test_invalid_addresses_are_unroutable_as_invalid():
    result = quote([("256701000001", 1), ("+25670abc", 1), ("+", 1), ("+1234567890123456", 1)], [route("ESMS_UG")])
    assert result.unroutable_reasons == {INVALID_NUMBER: 4}
    assert result.messages == [None, None, None, None]


def test_a_missing_exchange_rate_makes_its_recipients_unroutable_with_a_warning():
    routes = [route("ESMS_UG"), route("SIM_NG", "NG", "6.5", "NGN")]
    result = quote([("+256701000001", 1), ("+2348031234567", 1)], routes)
    assert result.messages[0].route_code == "ESMS_UG"
    assert result.messages[1] is None
    assert result.unroutable_reasons == {NO_EXCHANGE_RATE: 1}
    assert result.warnings == ["No exchange rate from NGN to USD: 1 recipient could not be priced."]


def test_a_route_in_the_wallet_currency_needs_no_rate():
    result = quote([("+33612345678", 2)], [route("SIM_FR", "FR", "0.065", "EUR")], wallet_currency="EUR", rates={})
    assert result.total_cost == D("0.13")


def test_unroutable_recipients_are_all_counted_and_20_sampled_in_order():
    recipients = [(f"+99900{i:04d}", 1) for i in range(25)] + [("+256701000001", 1)]
    result = quote(recipients, [route("ESMS_UG")])
    assert result.unroutable_count == 25
    assert result.unroutable == [f"+99900{i:04d}" for i in range(20)]
    assert result.total_contacts == 1


def test_each_message_is_rounded_half_up_to_6_places():
    rates = {("UGX", "USD"): D("0.0000025")}
    result = quote([("+256701000001", 1), ("+256701000002", 1)], [route("R", price="1")], rates=rates)
    assert [m.wallet_cost for m in result.messages] == [D("0.000003"), D("0.000003")]
    assert result.total_cost == D("0.000006")


def test_several_countries_are_broken_down_by_country():
    routes = [route("ESMS_UG"), route("SAF_KE", "KE", "1.20", "KES")]
    result = quote([("+254712345678", 1), ("+256701000001", 1), ("+254712345679", 3)], routes)
    pricing = result.pricing(balance=D("1"), available=D("1"))
    assert [(b["country_code"], b["country_name"], b["contacts"], b["segments"]) for b in pricing["breakdown"]] == [
        ("KE", "Kenya", 2, 4),
        ("UG", "Uganda", 1, 1),
    ]
    assert pricing["countries"] == 2
    assert pricing["breakdown"][0]["route_cost"] == "4.800000"
    assert pricing["breakdown"][0]["wallet_cost"] == "0.036960"  # 0.00924 + 0.02772


@pytest.mark.parametrize(("field", "kwargs"), [("channel", {"channel": "fax"}), ("tier", {"tier": "gold"})])
def test_bad_channel_or_tier_is_refused(field, kwargs):
    with pytest.raises(ValidationError) as exc:
        quote([("+256701000001", 1)], [route("ESMS_UG")], **kwargs)
    assert field in exc.value.message_dict


def test_an_sms_has_at_least_one_segment():
    with pytest.raises(ValueError, match="at least one segment"):
        quote([("+256701000001", 0)], [route("ESMS_UG")])


def test_messages_are_aligned_with_recipients_and_share_their_priced_message():
    result = quote([("+256701000001", 1), ("+999", 1), ("+256701000002", 1)], [route("ESMS_UG")])
    first, missing, third = result.messages
    assert missing is None
    assert first is third
