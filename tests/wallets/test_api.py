"""GET /api/v1/wallet/, /api/v1/wallet/transactions/ and /api/v1/prices/ (SPEC §7), read scope."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories.wallets import ExchangeRateFactory, PriceOverrideFactory, RouteFactory, make_wallet
from tests.helpers import assert_error
from wallets.services import wallet_capture, wallet_reserve, wallet_topup

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def wallet(api):
    return make_wallet(client=api.tenant, balance="100", billing="postpaid", credit_limit="50")


def test_wallet_shows_its_figures_as_strings_with_6_places(api, wallet):
    wallet_reserve(wallet=wallet, amount="12.5", broadcast_id=uuid.uuid4())
    body = api.get("/api/v1/wallet/").json()
    assert {k: body[k] for k in ("currency", "balance", "reserved", "available", "billing", "credit_limit")} == {
        "currency": "USD",
        "balance": "100.000000",
        "reserved": "12.500000",
        "available": "137.500000",
        "billing": "postpaid",
        "credit_limit": "50.000000",
    }


def test_wallet_needs_the_read_scope(make_api):
    api = make_api(scopes=["send_sms"])
    make_wallet(client=api.tenant)
    assert_error(api.get("/api/v1/wallet/"), 403, "permission_error", "missing_scope")
    assert_error(api.get("/api/v1/wallet/transactions/"), 403, "permission_error", "missing_scope")
    assert_error(api.get("/api/v1/prices/"), 403, "permission_error", "missing_scope")


def test_a_client_without_a_wallet_gets_404(api):
    assert_error(api.get("/api/v1/wallet/"), 404, "not_found")


def test_the_wallet_is_read_only(api, wallet):
    assert api.post("/api/v1/wallet/", {}, format="json").status_code in (403, 405)
    assert api.post("/api/v1/wallet/transactions/", {}, format="json").status_code in (403, 405)


def test_dashboard_sessions_see_the_wallet(make_session_api):
    session = make_session_api(role="viewer")
    make_wallet(client=session.tenant, balance="3")
    assert session.get("/api/v1/wallet/").json()["balance"] == "3.000000"


# --- transactions --------------------------------------------------------------------------------


def test_transactions_are_newest_first_with_their_figures(api, wallet):
    bid = uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="10", broadcast_id=bid, note="estimate")
    wallet_capture(wallet=wallet, amount="4", broadcast_id=bid)
    body = api.get("/api/v1/wallet/transactions/").json()
    assert set(body) == {"next", "previous", "results"}
    assert [(r["kind"], r["amount"], r["balance_after"], r["reserved_after"]) for r in body["results"]] == [
        ("capture", "4.000000", "96.000000", "6.000000"),
        ("reserve", "10.000000", "100.000000", "10.000000"),
        ("topup", "100.000000", "100.000000", "0.000000"),
    ]
    assert body["results"][1]["broadcast"] == str(bid)
    assert body["results"][1]["note"] == "estimate"
    assert body["results"][2]["broadcast"] is None
    assert set(body["results"][0]) == {
        "id",
        "kind",
        "amount",
        "balance_after",
        "reserved_after",
        "broadcast",
        "note",
        "created_at",
    }


def test_transactions_filters(api, wallet):
    bid, other = uuid.uuid4(), uuid.uuid4()
    wallet_reserve(wallet=wallet, amount="10", broadcast_id=bid)
    wallet_reserve(wallet=wallet, amount="1", broadcast_id=other)
    wallet_capture(wallet=wallet, amount="4", broadcast_id=bid)

    def kinds(query: str) -> list[str]:
        response = api.get(f"/api/v1/wallet/transactions/?{query}")
        assert response.status_code == 200, response.content
        return [r["kind"] for r in response.json()["results"]]

    assert kinds("kind=reserve") == ["reserve", "reserve"]
    assert kinds(f"broadcast={bid}") == ["capture", "reserve"]
    assert kinds(f"broadcast={bid}&kind=capture") == ["capture"]
    now = timezone.now()
    assert kinds(f"created_after={(now - timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}") == [
        "capture",
        "reserve",
        "reserve",
        "topup",
    ]
    assert kinds(f"created_after={(now + timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}") == []
    assert kinds(f"created_before={(now - timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=gift", "kind"),
        ("broadcast=not-a-uuid", "broadcast"),
        ("created_after=yesterday", "created_after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
    ],
)
def test_transactions_bad_filters_are_400(api, wallet, query, field):
    error = assert_error(api.get(f"/api/v1/wallet/transactions/?{query}"), 400, "invalid_request_error")
    assert field in error["fields"]


def test_transactions_are_paginated_by_cursor(api, wallet):
    for i in range(5):
        wallet_topup(wallet=wallet, amount=str(i + 1))
    first = api.get("/api/v1/wallet/transactions/?limit=4").json()
    assert [r["amount"] for r in first["results"]] == ["5.000000", "4.000000", "3.000000", "2.000000"]
    second = api.get(first["next"]).json()
    assert [r["amount"] for r in second["results"]] == ["1.000000", "100.000000"]
    assert second["next"] is None


def test_another_clients_transactions_are_never_visible(api, wallet):
    theirs = make_wallet(balance="7")
    bid = uuid.uuid4()
    wallet_reserve(wallet=theirs, amount="1", broadcast_id=bid)
    results = api.get("/api/v1/wallet/transactions/").json()["results"]
    assert [r["amount"] for r in results] == ["100.000000"]
    assert api.get(f"/api/v1/wallet/transactions/?broadcast={bid}").json()["results"] == []


def test_transactions_query_count_does_not_grow_with_the_page(api, wallet, django_assert_max_num_queries):
    api.get("/api/v1/wallet/transactions/")  # warm the key's last-used stamp
    with django_assert_max_num_queries(4) as small:
        api.get("/api/v1/wallet/transactions/")
    for i in range(40):
        wallet_topup(wallet=wallet, amount="1", note=str(i))
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(api.get("/api/v1/wallet/transactions/").json()["results"]) == 41


# --- prices --------------------------------------------------------------------------------------


@pytest.fixture
def routes(db):
    ExchangeRateFactory(from_currency="UGX", to_currency="USD", rate=D("0.000268571"))
    ExchangeRateFactory(from_currency="KES", to_currency="USD", rate=D("0.0077"))
    return {
        "ug": RouteFactory(route_code="ESMS_UG", price_per_segment=D("35")),
        "ug_low": RouteFactory(route_code="SIM_UG_LC", price_per_segment=D("28"), tier="low_cost"),
        "ug_mtn": RouteFactory(route_code="MTN_UG", prefix="25677", price_per_segment=D("32")),
        "ke": RouteFactory(route_code="SAF_KE", country_code="KE", currency="KES", price_per_segment=D("1.2")),
        "wa": RouteFactory(route_code="WA_UG", channel="whatsapp", currency="USD", price_per_segment=D("0.008")),
        "ng": RouteFactory(route_code="SIM_NG", country_code="NG", currency="NGN", price_per_segment=D("6.5")),
        "off": RouteFactory(route_code="OLD_UG", price_per_segment=D("99"), active=False),
    }


def test_prices_list_active_routes_with_the_clients_own_price(api, wallet, routes):
    PriceOverrideFactory(client=api.tenant, route=routes["ug"], price_per_segment=D("30"))
    PriceOverrideFactory(route=routes["ke"], price_per_segment=D("0.5"))  # another client's price
    results = api.get("/api/v1/prices/?limit=100").json()["results"]
    by_code = {r["route_code"]: r for r in results}
    assert set(by_code) == {"ESMS_UG", "SIM_UG_LC", "MTN_UG", "SAF_KE", "WA_UG", "SIM_NG"}
    assert by_code["ESMS_UG"] == {
        "id": routes["ug"].pk,
        "channel": "sms",
        "country_code": "UG",
        "country_name": "Uganda",
        "prefix": "",
        "route_code": "ESMS_UG",
        "tier": "premium",
        "currency": "UGX",
        "price_per_segment": "30.000000",
        "wallet_currency": "USD",
        "wallet_price_per_segment": "0.008057",
        "custom_price": True,
    }
    assert (by_code["SAF_KE"]["price_per_segment"], by_code["SAF_KE"]["custom_price"]) == ("1.200000", False)
    assert by_code["SAF_KE"]["wallet_price_per_segment"] == "0.009240"
    assert by_code["SIM_NG"]["wallet_price_per_segment"] is None  # no NGN→USD rate
    assert [r["country_code"] for r in results] == sorted(r["country_code"] for r in results)


def test_prices_filters(api, wallet, routes):
    def codes(query: str) -> set[str]:
        response = api.get(f"/api/v1/prices/?{query}")
        assert response.status_code == 200, response.content
        return {r["route_code"] for r in response.json()["results"]}

    assert codes("channel=whatsapp") == {"WA_UG"}
    assert codes("country=ke") == {"SAF_KE"}
    assert codes("country=UG&channel=sms") == {"ESMS_UG", "SIM_UG_LC", "MTN_UG"}
    assert codes("country=FR") == set()
    error = assert_error(api.get("/api/v1/prices/?channel=fax"), 400, "invalid_request_error")
    assert "channel" in error["fields"]


def test_prices_filter_by_country_code_the_specs_name(api, wallet, routes):
    def codes(query: str) -> set[str]:
        response = api.get(f"/api/v1/prices/?{query}")
        assert response.status_code == 200, response.content
        return {r["route_code"] for r in response.json()["results"]}

    assert codes("country_code=ke") == {"SAF_KE"}
    assert codes("country_code=UG&channel=sms") == {"ESMS_UG", "SIM_UG_LC", "MTN_UG"}
    assert codes("country_code=FR") == set()


def test_prices_refuse_an_unknown_filter_instead_of_ignoring_it(api, wallet, routes):
    error = assert_error(api.get("/api/v1/prices/?countrycode=KE"), 400, "invalid_request_error", "unknown_parameter")
    assert list(error["fields"]) == ["countrycode"]


def test_prices_an_override_in_another_currency(api, wallet, routes):
    PriceOverrideFactory(client=api.tenant, route=routes["ke"], price_per_segment=D("0.009"), currency="USD")
    result = api.get("/api/v1/prices/?country=KE").json()["results"][0]
    assert (result["currency"], result["price_per_segment"], result["wallet_price_per_segment"]) == (
        "USD",
        "0.009000",
        "0.009000",
    )


def test_prices_query_count_is_pinned(api, wallet, routes, django_assert_max_num_queries):
    api.get("/api/v1/prices/")
    with django_assert_max_num_queries(5) as small:
        api.get("/api/v1/prices/")
    for i in range(30):
        RouteFactory(route_code=f"X{i}", country_code="KE", currency="KES")
        PriceOverrideFactory(client=api.tenant, route=RouteFactory(route_code=f"Y{i}"))
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(api.get("/api/v1/prices/?limit=100").json()["results"]) == 66
