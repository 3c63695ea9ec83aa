"""Issue 21, point 8, in a real browser: the charts are drawn by the vendored uPlot across the card,
with room for both axes, the hovered bucket's moment (in the user's zone) and count in the legend,
and the live fragment's chart drawn again after each htmx swap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import Client, Membership
from broadcasts.models import Broadcast, Message

pytestmark = pytest.mark.django_db(transaction=True)

R = Membership.Role
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 15:00 in Kampala (EAT)
POLL = 10_000  # ms: the page polls every 3 s


def _sending(shop: Any) -> Broadcast:
    Client.objects.filter(pk=shop.client.pk).update(timezone="Africa/Kampala")
    response = shop.create(recipients=["+256772000001", "+256772000002", "+256772000003"], sender="Herald")
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    for i, pk in enumerate(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True)):
        Message.objects.filter(pk=pk).update(status="sent", sent_at=T0 + timedelta(seconds=20 * i))
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SENDING)
    return broadcast


def _drawn(page: Any, box: str) -> None:
    """The chart in `box` is uPlot's, as wide as its card, with space kept for both axes."""
    expect(page.locator(f"{box} .uplot canvas")).to_have_count(1)
    expect(page.locator(f"{box} svg.chart")).to_be_hidden()
    width = page.locator(box).bounding_box()["width"]
    canvas = page.locator(f"{box} .uplot canvas").bounding_box()
    assert abs(canvas["width"] - width) <= 2, (canvas, width)
    over = page.locator(f"{box} .u-over").bounding_box()
    assert over["x"] - canvas["x"] > 20, "no room for the y axis"
    assert canvas["y"] + canvas["height"] - (over["y"] + over["height"]) > 20, "no room for the x axis"
    label = page.locator(f"{box} .chart-plot").get_attribute("aria-label")
    assert label
    assert "peak" in label


def test_the_sends_chart_is_drawn_in_the_users_zone_and_again_after_a_swap(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    broadcast = _sending(shop)
    page = signed_in(shop.client, R.VIEWER)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    box = "[data-testid=sends-chart]"
    _drawn(page, box)
    page.locator(box).scroll_into_view_if_needed()
    over = page.locator(f"{box} .u-over").bounding_box()
    page.mouse.move(over["x"] + over["width"] / 2, over["y"] + over["height"] / 2, steps=5)
    page.mouse.move(over["x"] + 3, over["y"] + over["height"] / 2, steps=5)  # the first bucket
    values = page.locator(f"{box} .u-legend .u-value")
    expect(values.first).to_have_text("2026-11-24 15:00:00 EAT")
    expect(values.nth(1)).to_have_text("1")

    page.evaluate("document.querySelector('[data-testid=sends-chart]').dataset.marker = 'old'")
    expect(page.locator("[data-testid=sends-chart]:not([data-marker])")).to_have_count(1, timeout=POLL)  # swapped
    _drawn(page, box)
    expect(page.locator(".uplot")).to_have_count(1)
    expect(values.first).to_have_text("2026-11-24 15:00:00 EAT")  # the hover survives the swap
    assert errors == []
    assert outside == []


def test_the_overview_chart_is_drawn_across_its_card(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    _sending(shop)
    page = signed_in(shop.client, R.VIEWER)
    page.goto(f"{live_server.url}/")
    _drawn(page, "[data-testid=daily-chart]")


def test_a_broadcast_sent_within_one_bucket_keeps_the_axis_on_its_minutes(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    """Three messages in the same 10 s: one bucket. uPlot stretches a one-point time scale over a
    thousand days (the chart was a sliver under a 2027–2029 axis); the chart pads it with the empty
    buckets on either side, so the middle of the chart is the bucket itself."""
    shop = make_shop()
    broadcast = _sending(shop)
    Message.objects.filter(broadcast=broadcast).update(sent_at=T0)
    page = signed_in(shop.client, R.VIEWER)
    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    box = "[data-testid=sends-chart]"
    _drawn(page, box)
    page.locator(box).scroll_into_view_if_needed()
    over = page.locator(f"{box} .u-over").bounding_box()
    values = page.locator(f"{box} .u-legend .u-value")
    page.mouse.move(over["x"] + over["width"] / 2, over["y"] + over["height"] / 2, steps=5)
    expect(values.first).to_have_text("2026-11-24 15:00:00 EAT")
    expect(values.nth(1)).to_have_text("3")
    page.mouse.move(over["x"] + 3, over["y"] + over["height"] / 2, steps=5)
    expect(values.first).to_have_text("2026-11-24 14:59:50 EAT")
    expect(values.nth(1)).to_have_text("0")
    expect(page.locator("main")).to_contain_text("15:00:00 EAT · 3 sent in those 10 seconds")  # not "15:00:00–15:00:00"
