"""Support staff's admin: money moves only through the Top up / Adjust actions; the ledger is read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from accounts.models import User
from tests.factories.wallets import PriceOverrideFactory, RouteFactory, make_wallet
from wallets.models import ExchangeRate, LedgerEntry, Route

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def staff_user():
    return User.objects.create_superuser("staff", "staff@example.com", "pw")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def action(staff, name: str, wallet, **data: str):
    payload = {"action": name, "_selected_action": [wallet.pk], **data}
    return staff.post("/admin/wallets/wallet/", payload, follow=True)


def shown(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


@pytest.mark.parametrize(
    "url",
    [
        "/admin/wallets/wallet/?q=Acme&billing__exact=prepaid",
        "/admin/wallets/ledgerentry/?kind__exact=topup&q=Acme",
        "/admin/wallets/reservation/",
        "/admin/wallets/route/?channel__exact=sms&country_code__exact=UG&tier__exact=premium&q=ESMS",
        "/admin/wallets/route/add/",
        "/admin/wallets/exchangerate/?q=UGX",
        "/admin/wallets/priceoverride/?route__channel__exact=sms&q=Acme",
        "/admin/wallets/priceoverride/add/",
    ],
)
def test_admin_pages_load(staff, url):
    wallet = make_wallet(balance="5")
    PriceOverrideFactory(client=wallet.client, route=RouteFactory(route_code="ESMS_UG"))
    assert staff.get(url).status_code == 200


def test_the_wallet_change_page_is_read_only(staff):
    wallet = make_wallet(balance="5")
    page = staff.get(f"/admin/wallets/wallet/{wallet.pk}/change/").content.decode()
    assert 'name="balance"' not in page
    staff.post(f"/admin/wallets/wallet/{wallet.pk}/change/", {"balance": "1000"})
    wallet.refresh_from_db()
    assert wallet.balance == D("5")
    assert staff.get("/admin/wallets/wallet/add/").status_code == 403


def test_top_up_action_shows_a_form_then_credits_with_note_and_staff_user(staff, staff_user):
    wallet = make_wallet(balance="5")
    form = action(staff, "top_up", wallet)
    assert b'name="amount"' in form.content
    done = action(staff, "top_up", wallet, apply="1", amount="20.25", note="wire 123")
    assert "Topped up 20.250000 USD" in shown(done)
    wallet.refresh_from_db()
    assert wallet.balance == D("25.25")
    entry = LedgerEntry.objects.filter(wallet=wallet).first()
    assert (entry.kind, entry.amount, entry.note, entry.created_by) == ("topup", D("20.25"), "wire 123", staff_user)


def test_adjust_action_needs_a_note_and_keeps_available_non_negative(staff, staff_user):
    wallet = make_wallet(balance="5")
    response = action(staff, "adjust", wallet, apply="1", amount="-2", note="")
    assert b"This field is required" in response.content
    response = action(staff, "adjust", wallet, apply="1", amount="-6", note="refund")
    assert b"would leave less than 0 available" in response.content
    response = action(staff, "adjust", wallet, apply="1", amount="abc", note="refund")
    assert b"not a number" in response.content
    wallet.refresh_from_db()
    assert wallet.balance == D("5")
    done = action(staff, "adjust", wallet, apply="1", amount="-2", note="duplicate payment")
    assert "Adjusted by -2.000000 USD" in shown(done)
    entry = LedgerEntry.objects.filter(wallet=wallet).first()
    assert (entry.kind, entry.amount, entry.note, entry.created_by) == (
        "adjustment",
        D("-2"),
        "duplicate payment",
        staff_user,
    )


def test_change_billing_action(staff):
    wallet = make_wallet(balance="5")
    action(staff, "change_billing", wallet, apply="1", billing="postpaid", credit_limit="100")
    wallet.refresh_from_db()
    assert (wallet.billing, wallet.credit_limit, wallet.available) == ("postpaid", D("100"), D("105"))


def test_money_actions_take_exactly_one_wallet(staff):
    first, second = make_wallet(balance="1"), make_wallet(balance="1")
    response = staff.post(
        "/admin/wallets/wallet/",
        {"action": "top_up", "_selected_action": [first.pk, second.pk], "apply": "1", "amount": "5"},
        follow=True,
    )
    assert "exactly one wallet" in shown(response)
    assert LedgerEntry.objects.count() == 2


def test_the_ledger_cannot_be_added_changed_or_deleted(staff):
    wallet = make_wallet(balance="5")
    entry = LedgerEntry.objects.get(wallet=wallet)
    assert staff.get("/admin/wallets/ledgerentry/add/").status_code == 403
    page = staff.get(f"/admin/wallets/ledgerentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert b'name="amount"' not in page.content
    assert staff.post(f"/admin/wallets/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_routes_are_validated_in_the_admin(staff):
    data = {
        "channel": "sms",
        "country_code": "ug",
        "prefix": "25477",
        "route_code": "MTN_UG",
        "connector": "simulator",
        "currency": "ugx",
        "price_per_segment": "32",
        "tier": "premium",
        "active": "on",
    }
    response = staff.post("/admin/wallets/route/add/", data)
    assert b"does not start with UG" in response.content
    assert not Route.objects.exists()
    staff.post("/admin/wallets/route/add/", {**data, "prefix": "25677"})
    route = Route.objects.get()
    assert (route.country_code, route.currency, route.prefix) == ("UG", "UGX", "25677")


def test_exchange_rates_are_validated_in_the_admin(staff):
    response = staff.post(
        "/admin/wallets/exchangerate/add/", {"from_currency": "USD", "to_currency": "USD", "rate": "1"}
    )
    assert b"must differ" in response.content
    staff.post("/admin/wallets/exchangerate/add/", {"from_currency": "ugx", "to_currency": "usd", "rate": "0.0003"})
    assert ExchangeRate.objects.get().from_currency == "UGX"
