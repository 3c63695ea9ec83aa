"""The compose page in a real browser: the server's counter as the user types, the smart-encoding
switch, a translation's own counter and the contact picker (htmx as the pages use it). Ported from
the selenium tests, so one browser toolkit drives Debian's chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from tests.factories.contacts import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

R = Membership.Role


def test_the_counter_follows_the_text_and_the_switch_fixes_it(live_server: Any, signed_in: Any, make_shop: Any):
    page = signed_in(make_shop().client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/new/")
    text = page.locator("#text")
    text.press_sequentially("hello")
    expect(page.locator("#counter [data-testid=left]")).to_contain_text("155")
    expect(page.locator("#counter [data-testid=encoding]")).to_have_text("GSM-7")
    text.press_sequentially(" ça va")  # ç is not GSM 03.38 (only Ç is)
    expect(page.locator("#counter [data-testid=encoding]")).to_have_text("UCS-2")
    expect(page.locator("#counter [data-testid=non-gsm]")).to_contain_text("ç")
    # Smart encoding never changes a letter; the transliterated text is shown, and its switch uses it.
    expect(page.locator("#counter [data-testid=transliterated]")).to_contain_text("hello ca va")
    page.locator("#counter [data-testid=transliterate-switch]").click()
    expect(page.locator("#counter [data-testid=encoding]")).to_have_text("GSM-7")
    expect(text).to_have_value("hello ca va")
    text.fill("")
    text.press_sequentially("it’s fine")
    page.locator("#counter [data-testid=smart-switch]").click()
    expect(page.locator("#counter [data-testid=encoding]")).to_have_text("GSM-7")
    expect(text).to_have_value("it's fine")


def test_a_translations_counter_and_the_contact_picker(live_server: Any, signed_in: Any, make_shop: Any):
    """A translation's counter counts only that version (hx-vals and hx-params), and a picked
    contact lands in the chosen list as a ticked checkbox, without a page load."""
    shop = make_shop()
    ann = ContactFactory(client=shop.client, first_name="Annabel", last_name="Okello", phone="+256772000021")
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/new/")
    page.locator("#text").press_sequentially("hello")
    page.locator("[data-testid=add-language]").click()
    page.locator("#text-1").press_sequentially("ça va")
    expect(page.locator("#counter-1 [data-testid=encoding]")).to_have_text("UCS-2")
    expect(page.locator("#counter [data-testid=encoding]")).to_have_text("GSM-7")
    expect(page.locator("#counter-1 [data-testid=non-gsm]")).to_contain_text("ç")

    page.locator("input[name=contact_q]").press_sequentially("annab")
    page.locator("[data-testid=contact-results] button").first.click()
    chosen = page.locator(f"#chosen-contacts input[name=contacts][value='{ann.pk}']")
    expect(chosen).to_be_checked()
    assert page.url.endswith("/broadcasts/new/")  # htmx swapped a fragment, no page load
