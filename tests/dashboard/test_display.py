"""Issue 21: one name per broadcast state on every page and filter (SPEC §8 `ui_status`), and money
in its currency's own minor units, with six places only for a price per part or an exact entry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Membership
from broadcasts.models import Broadcast
from broadcasts.states import UI_STATUS, UI_STATUS_FILTERS, statuses_for_filter, ui_status_choices
from dashboard.templatetags.herald import address, exact_money, money, ui_status

pytestmark = pytest.mark.django_db

R = Membership.Role
B = Broadcast.Status


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("98.958040", "USD", "98.96 USD"),
        ("99.707440", "USD", "99.71 USD"),
        ("7000.000000", "UGX", "7,000 UGX"),
        ("6999.5", "UGX", "7,000 UGX"),
        ("1.2345", "KWD", "1.235 KWD"),
        ("-0.005", "USD", "-0.01 USD"),
        ("0", "EUR", "0.00 EUR"),
        ("not a number", "USD", "—"),
    ],
)
def test_money_is_shown_in_the_currencys_minor_units(amount, currency, shown):
    assert money(amount, currency) == shown


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("0.009400", "USD", "0.0094 USD"),
        ("35.000000", "UGX", "35 UGX"),
        ("0.065000", "EUR", "0.065 EUR"),
        ("2.5", "USD", "2.50 USD"),
        ("0.0000004", "USD", "0.000000 USD"),
    ],
)
def test_a_price_per_part_keeps_the_places_it_needs_up_to_six(amount, currency, shown):
    assert exact_money(amount, currency) == shown


def test_every_status_has_one_ui_name_and_the_filters_cover_them_all():
    assert {ui_status(status) for status in B.values} == {"Draft", "Scheduled", "Ongoing", "Paused", "Completed",
                                                          "Failed", "Cancelled"}  # fmt: skip
    assert set().union(*UI_STATUS_FILTERS.values()) == set(B.values) == set(UI_STATUS)
    assert [label for _value, label in ui_status_choices()] == [
        "Draft", "Scheduled", "Ongoing", "Paused", "Completed", "Failed", "Cancelled",
    ]  # fmt: skip
    assert statuses_for_filter("completed") == {B.SENT, B.PARTIALLY_SENT}
    assert statuses_for_filter("ongoing") == {B.QUEUED, B.SENDING}
    assert statuses_for_filter("sending") == {B.SENDING}  # a link written before keeps working
    assert statuses_for_filter("bogus") is None


def test_the_list_filters_by_ui_status_and_shows_the_same_names_as_the_overview(login, shop, daytime):
    done = shop.broadcast(shop.create(recipients=["+256772000001"], name="Done"))
    partly = shop.broadcast(shop.create(recipients=["+256772000002"], name="Partly"))
    running = shop.broadcast(shop.create(recipients=["+256772000003"], name="Running"))
    Broadcast.objects.filter(pk=done.pk).update(status=B.SENT)
    Broadcast.objects.filter(pk=partly.pk).update(status=B.PARTIALLY_SENT)
    Broadcast.objects.filter(pk=running.pk).update(status=B.SENDING)
    web = login(R.VIEWER, shop.client)

    listed = web.get("/broadcasts/", {"status": "completed"})
    assert {item["broadcast"].name for item in listed.context["items"]} == {"Done", "Partly"}
    assert {item["ui_status"] for item in listed.context["items"]} == {"Completed"}
    body = listed.content.decode()
    assert '<option value="completed" selected>Completed</option>' in body
    assert ">Sent</option>" not in body  # the raw status names are not offered

    assert [i["broadcast"].name for i in web.get("/broadcasts/", {"status": "ongoing"}).context["items"]] == ["Running"]
    overview = web.get("/").content.decode()
    assert ">Completed</span>" in overview
    assert ">Ongoing</span>" in overview
    assert ">Sent</span>" not in overview
    api = {b["name"]: b["ui_status"] for b in shop.api.get("/api/v1/broadcasts/").json()["results"]}
    assert api == {"Done": "Completed", "Partly": "Completed", "Running": "Ongoing"}


def test_the_overview_and_wallet_show_money_in_minor_units(login, shop, daytime):
    later = (timezone.now() + timedelta(days=1)).isoformat()
    created = shop.create(recipients=["+256772000001"], schedule_mode="scheduled", scheduled_at=later)
    assert created.status_code == 201, created.content  # reserves 0.0094
    web = login(R.VIEWER, shop.client)
    available = shop.refresh().available
    assert available != available.quantize(Decimal("0.01"))
    shown = money(available, "USD")
    assert f'data-testid="available">{shown}<' in web.get("/").content.decode()
    assert f'data-testid="available">{shown}<' in web.get("/wallet/").content.decode()


def test_every_page_names_its_icon_and_favicon_ico_leads_to_it(login, shop):
    assert 'rel="icon" href="/static/dashboard/favicon.svg"' in login(R.VIEWER, shop.client).get("/").content.decode()
    answer = login(R.VIEWER, shop.client).get("/favicon.ico")
    assert (answer.status_code, answer["Location"]) == (301, "/static/dashboard/favicon.svg")


def test_the_price_table_names_channels_tiers_and_countries(login, shop):
    page = login(R.VIEWER, shop.client).get("/wallet/").content.decode()
    assert "<td>Uganda (UG)</td>" in page
    assert "<td>Premium</td>" in page
    assert "<td>premium</td>" not in page
    assert "<td>SMS</td>" in page


@pytest.mark.parametrize(
    ("urn", "shown"),
    [
        ("tel:+256772000001", "+256772000001"),
        ("whatsapp:+256772000001", "WhatsApp +256772000001"),
        ("telegram:123456", "Telegram 123456"),
        ("+256772000001", "+256772000001"),
        ("mailto:x@example.com", "mailto:x@example.com"),
    ],
)
def test_recipients_read_as_people_write_them(urn, shown):
    assert address(urn) == shown


def test_one_recipient_is_singular_and_the_estimate_is_in_minor_units(login, shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=["+256772000001"], name="Solo"))
    page = login(R.VIEWER, shop.client).get(f"/broadcasts/{broadcast.pk}/").content.decode()
    assert "· 1 recipient ·" in page
    assert f"estimated {money(broadcast.estimated_cost, broadcast.currency)}" in page


def test_cancel_looks_destructive_and_pause_does_not(login, shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=["+256772000001"], schedule_mode="scheduled",
                                           scheduled_at=(timezone.now() + timedelta(days=1)).isoformat()))  # fmt: skip
    page = login(R.MANAGER, shop.client).get(f"/broadcasts/{broadcast.pk}/").content.decode()
    assert 'class="button danger" id="action-cancel"' in page
    assert 'class="button" id="action-pause"' in page or "action-pause" not in page
