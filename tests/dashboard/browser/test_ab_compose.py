"""An A/B test composed in Chromium (issue 22's "Dashboard"): the texts show once "A/B test" is chosen,
the review says the test in words with each text's cost, and the broadcast's page shows the test
under way, each text's sample and the rest waiting for the winner."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from broadcasts.models import Broadcast, Message

pytestmark = pytest.mark.django_db(transaction=True)

R = Membership.Role
PHONES = [f"+2567720{n:05d}" for n in range(20)]


def test_compose_an_ab_test_and_see_it_under_way(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/new/")
    page.fill("input[name=name]", "Which offer?")
    page.fill("textarea[name=recipients]", "\n".join(PHONES))
    ab = page.locator("[data-testid=ab-test]")
    expect(ab).to_be_hidden()  # only once chosen
    page.check("[data-testid=mode-ab]")
    expect(ab).to_be_visible()
    expect(ab.locator("[data-testid=ab-variant]")).to_have_count(5)
    page.get_by_label("Text A", exact=True).fill("20% off today")
    page.get_by_label("Text B", exact=True).fill("Two for one today")
    page.get_by_label("Share of text A (percent)").fill("25")
    page.get_by_label("Share of text B (percent)").fill("25")
    page.select_option("[data-testid=ab-metric]", "delivered")
    page.fill("[data-testid=ab-after]", "2")
    page.get_by_label("Decide after (unit)").select_option("hours")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")

    expect(page.locator("[data-testid=ab-words]")).to_have_text(
        "2 texts, each to its share of the recipients (A 25 %, B 25 %); after 2 hours, the one with the most "
        "deliveries goes to the other 50 % (a tie: the first)."
    )
    rows = page.locator("[data-testid=ab-review] tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("20% off today")
    expect(rows.nth(2)).to_contain_text("Everyone else (the winner)")
    page.click("button[value=send]")

    expect(page).to_have_url(re.compile(r"/broadcasts/[0-9a-f-]{36}/$"))
    results = page.locator("[data-testid=ab-results]")
    expect(results.locator("[data-testid=ab-status]")).to_contain_text("Testing: decided")
    expect(results.locator("tbody tr")).to_have_count(3)
    expect(results.locator("tbody tr").nth(2)).to_contain_text("Everyone else (waiting for the winner)")
    broadcast = Broadcast.objects.get(client=shop.client)
    assert broadcast.variants == [{"text": "20% off today", "share": 25}, {"text": "Two for one today", "share": 25}]
    assert {v: Message.objects.filter(broadcast=broadcast, variant=v).count() for v in (0, 1, None)} == {
        0: 5, 1: 5, None: 10,
    }  # fmt: skip
