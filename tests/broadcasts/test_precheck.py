"""SPEC §8 precheck: the response fields, the seed's worked example, and that nothing is created."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, Message
from templates_app.demo import seed_demo_templates
from tests.broadcasts.conftest import UG
from tests.factories.contacts import ContactFactory
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db

FIELDS = {
    "total_contacts",
    "total_segments",
    "total_cost",
    "wallet_currency",
    "wallet_balance",
    "wallet_available",
    "balance_after",
    "sufficient_balance",
    "countries",
    "breakdown",
    "unroutable_count",
    "unroutable",
    "invalid_count",
    "invalid",
    "opted_out_count",
    "duplicate_count",
    "encoding",
    "segments_per_message",
    "non_gsm_characters",
    "missing_variables",
    "warnings",
}


def test_the_seed_worked_example(make_shop, daytime):
    """A UG route ESMS_UG at 35.00 UGX per part, a USD wallet, a rate of 0.000268571: 150 contacts
    needing 200 parts cost 7000.00 UGX and 1.88 USD."""
    shop = make_shop(balance="5000")
    one_part = [{"phone": f"+2567721{i:05d}", "tail": ""} for i in range(100)]
    two_parts = [{"phone": f"+2567722{i:05d}", "tail": "x" * 160} for i in range(50)]
    response = shop.precheck(recipients=None, recipient_variables=one_part + two_parts, text="Hello{{tail}}")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) == FIELDS
    assert (body["total_contacts"], body["total_segments"], body["countries"]) == (150, 200, 1)
    assert body["breakdown"] == [
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
    ]
    assert round(Decimal(body["total_cost"]), 2) == Decimal("1.88")
    assert body["wallet_currency"] == "USD"
    assert body["wallet_balance"] == "5000.000000"
    assert body["balance_after"] == "4998.120000"
    assert body["sufficient_balance"] is True
    assert (body["encoding"], body["segments_per_message"]) == ("gsm7", 2)


def test_insufficient_balance_is_reported_not_refused(make_shop, daytime):
    shop = make_shop(balance="0.001")
    body = shop.precheck(recipients=[UG]).json()
    assert body["sufficient_balance"] is False
    assert Decimal(body["balance_after"]) < 0


def test_balance_after_and_sufficiency_count_credit_reserved_by_other_broadcasts(make_shop, daytime):
    # SPEC §8: balance_after = wallet_available − total_cost, and sufficient_balance is true exactly
    # when the create would not answer 402 — a scheduled broadcast's reservation is not spendable.
    shop = make_shop(balance="0.02")
    later = (timezone.now() + timedelta(days=1)).isoformat()
    assert shop.create(recipients=[UG], schedule_mode="scheduled", scheduled_at=later).status_code == 201
    body = shop.precheck(recipients=["+256772000002", "+256772000003"]).json()
    reserved = Decimal("0.02") - Decimal(body["wallet_available"])
    assert reserved > 0
    assert (body["wallet_balance"], Decimal(body["total_cost"])) == ("0.020000", 2 * reserved)
    assert Decimal(body["balance_after"]) == Decimal(body["wallet_available"]) - Decimal(body["total_cost"]) < 0
    assert body["sufficient_balance"] is False
    assert shop.create(recipients=["+256772000002", "+256772000003"]).status_code == 402
    enough = shop.precheck(recipients=["+256772000002"]).json()
    assert enough["sufficient_balance"] is True
    assert Decimal(enough["balance_after"]) == Decimal(body["wallet_available"]) - reserved >= 0
    assert shop.create(recipients=["+256772000002"]).status_code == 201


def test_counts_samples_and_content_facts(shop, daytime):
    ContactFactory(client=shop.client, phone="+256772000009", opted_out=True, opted_out_at=timezone.now())
    body = shop.precheck(
        recipients=[UG, UG, "12", "+256772000009", "+4915123456789", "+4915123456780"],
        text="Olá {{first_name}} 😀",
        optimize_text=False,
    ).json()
    assert body["total_contacts"] == 1
    assert (body["invalid_count"], body["opted_out_count"], body["duplicate_count"]) == (1, 1, 1)
    assert body["invalid"] == [{"value": "12", "reason": "not a valid phone number or URN"}]
    assert body["unroutable_count"] == 2
    assert body["unroutable"] == ["+4915123456789", "+4915123456780"]
    assert body["encoding"] == "ucs2"
    assert body["non_gsm_characters"] == ["á", "😀"]
    assert body["missing_variables"] == {"first_name": 1}
    assert {w["code"] for w in body["warnings"]} >= {"missing_variables", "ucs2_encoding"}


def test_smart_encoding_keeps_messages_in_gsm(shop, daytime):
    body = shop.precheck(recipients=[UG], text="It’s “great” — isn’t it…").json()
    assert (body["encoding"], body["non_gsm_characters"], body["total_segments"]) == ("gsm7", [], 1)


def test_unroutable_sample_is_at_most_20(shop, daytime):
    recipients = [f"+49151234567{i:02d}" for i in range(30)]
    body = shop.precheck(recipients=recipients).json()
    assert body["unroutable_count"] == 30
    assert len(body["unroutable"]) == 20


def test_precheck_creates_and_reserves_nothing(shop, daytime):
    shop.precheck(recipients=[UG])
    assert not Broadcast.objects.exists()
    assert not Message.objects.exists()
    assert not LedgerEntry.objects.filter(kind="reserve").exists()


def test_variables_with_a_default_are_never_missing(shop, daytime):
    """The demo's own `welcome` template (`Hi {{first_name|there}}, welcome to {{shop|our shop}}!`)
    renders its defaults for recipients without those values: nothing is missing."""
    seed_demo_templates(client=shop.client)
    body = shop.api.post(
        "/api/v1/broadcasts/precheck/", {"name": "Welcome", "recipients": [UG], "template": "welcome"}, format="json"
    ).json()
    assert (body["total_contacts"], body["missing_variables"]) == (1, {})
    assert "missing_variables" not in {w["code"] for w in body["warnings"]}


def test_only_placeholders_without_a_default_are_missing(shop, daytime):
    body = shop.precheck(recipients=[UG], text="Hi {{first_name|there}}, your code is {{code}}").json()
    assert body["missing_variables"] == {"code": 1}
