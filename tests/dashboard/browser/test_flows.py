"""The dashboard's flows in a real browser: log in, import, compose, send, cancel, an API key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import ApiKey, Membership
from broadcasts.models import Broadcast
from broadcasts.selectors import broadcast_stats
from contacts.models import Contact

from .conftest import scheduled_broadcast

pytestmark = pytest.mark.django_db(transaction=True)


R = Membership.Role


def test_log_in_and_out(live_server: Any, page: Any, signed_in: Any, make_shop: Any) -> None:
    page = signed_in(make_shop().client, R.VIEWER)
    expect(page.locator("p.whoami")).to_contain_text("viewer")
    page.goto(f"{live_server.url}/broadcasts/")
    expect(page.locator("h1")).to_have_text("Broadcasts")


def test_a_wrong_password_stays_on_the_login_page(live_server: Any, page: Any, make_shop: Any) -> None:
    page.goto(f"{live_server.url}/broadcasts/")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "wrong-password")
    page.click("form button[type=submit]")
    expect(page.locator("input[name=username]")).to_be_visible()
    assert page.locator("p.whoami").count() == 0


def test_import_a_csv_to_100_percent(live_server: Any, signed_in: Any, make_shop: Any, tmp_path: Any) -> None:
    shop = make_shop()
    page = signed_in(shop.client, R.MANAGER)
    csv = tmp_path / "people.csv"
    csv.write_text("phone,first_name\n+256772000001,Ann\nnope,Bob\n+256772000002,Cy\n")
    page.goto(f"{live_server.url}/contacts/imports/")
    page.set_input_files("input[name=file]", str(csv))
    page.fill("input[name=list_name]", "VIP")
    page.click("form[enctype] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/contacts/imports/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-testid=import-status]")).to_have_text("Completed")
    bar = page.locator("#import-progress progress")
    expect(bar).to_have_attribute("value", re.compile(r"^100(\.0)?$"))
    expect(page.locator("#import-progress")).to_contain_text("nope")  # the row error
    assert Contact.objects.filter(client=shop.client).count() == 2


def test_send_to_three_recipients_and_watch_it_complete(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/new/")
    page.fill("input[name=name]", "Three")
    page.fill("textarea[name=recipients]", "+256772000001\n+256772000002\n+256772000003")
    page.fill("#text", "Hello from Herald")
    page.select_option("select[name=sender]", "Herald")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")
    expect(page.locator("[data-testid=total-contacts]")).to_have_text("3")
    page.click("button[value=send]")
    expect(page).to_have_url(re.compile(r"/broadcasts/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Completed", timeout=30_000)
    broadcast = Broadcast.objects.get(client=shop.client)
    assert broadcast.total_recipients == 3
    expect(page.locator("[data-testid=funnel-sent]")).to_have_text("3")
    expect(page.locator("[data-testid=failed]")).to_have_text("0")
    stats = broadcast_stats(broadcast_ids=[broadcast.pk])[broadcast.pk]
    assert stats.sent == 3
    expect(page.locator("[data-testid=funnel-delivered]")).to_have_text(str(stats.delivered))
    expect(page.locator("[data-testid=funnel-read]")).to_have_text(str(stats.read))
    expect(page.locator("[data-testid=funnel-clicked]")).to_have_text(str(stats.unique_clicks))
    rate = f"{stats.delivered / 3 * 100:.1f}%"
    expect(page.locator("tr:has([data-testid=funnel-delivered]) td").nth(1)).to_have_text(rate)


def test_cancel_a_scheduled_broadcast(live_server: Any, signed_in: Any, make_shop: Any, daytime: Any) -> None:
    shop = make_shop()
    broadcast = scheduled_broadcast(shop)
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Scheduled")
    page.click("a.button:text-is('Cancel')")
    expect(page).to_have_url(re.compile(r"/cancel/$"))
    page.click("main form button[type=submit]")
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Cancelled")
    broadcast.refresh_from_db()
    assert broadcast.status == "cancelled"


def test_an_api_keys_secret_is_shown_exactly_once(live_server: Any, signed_in: Any, make_shop: Any) -> None:
    shop = make_shop()
    page = signed_in(shop.client, R.ADMIN)
    page.goto(f"{live_server.url}/api-management/")
    form = page.locator("form:has(input[name=kind][value=key])")
    form.locator("input[name=name]").fill("Shop backend")
    form.locator("input[name=scopes]").first.check()
    form.locator("button[type=submit]").click()
    secret = page.locator("[data-testid=new-secret]")
    expect(secret).to_be_visible()
    raw = secret.inner_text().strip()
    assert len(raw) > 20
    key = ApiKey.objects.get(client=shop.client, name="Shop backend")
    assert key.revoked_at is None
    page.goto(f"{live_server.url}/api-management/")  # the secret is never on a later page
    expect(page.locator("[data-testid=new-secret]")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Shop backend")
    assert raw not in page.content()
