"""The broadcast page's polled part in a real browser: the action buttons and the preparation bar
follow the broadcast as it moves, without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from broadcasts.models import Broadcast

from .conftest import scheduled_broadcast

pytestmark = pytest.mark.django_db(transaction=True)


R = Membership.Role
POLL = 10_000  # ms: the page polls every 3 s


def _buttons(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#actions a.button").all_inner_texts()]


def test_the_buttons_follow_the_status_without_a_reload(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    broadcast = scheduled_broadcast(shop)
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Scheduled")
    assert _buttons(page) == ["Cancel", "Test send"]

    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SENDING)  # it started
    expect(page.locator("#action-pause")).to_have_count(1, timeout=POLL)
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Ongoing")
    assert _buttons(page) == ["Pause", "Cancel", "Test send"]

    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SENT)  # and completed
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Completed", timeout=POLL)
    expect(page.locator("#action-pause")).to_have_count(0)
    expect(page.locator("#action-cancel")).to_have_count(0)
    assert _buttons(page) == ["Test send"]  # nothing failed: no retry either


def test_the_preparation_bar_moves_with_the_poll(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    broadcast = scheduled_broadcast(shop)
    # The fields a preparation worker moves (Celery is eager here: a real preparation would be over
    # before the page opened; tests/dashboard/test_preparation.py reads a real one).
    Broadcast.objects.filter(pk=broadcast.pk).update(
        status=Broadcast.Status.QUEUED, preparing=True, preparation_total=120, preparation_processed=30
    )
    page = signed_in(shop.client, R.VIEWER)
    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    bar = page.locator("[data-testid=preparation] progress")
    expect(bar).to_have_attribute("value", "30")
    expect(bar).to_have_attribute("max", "120")

    Broadcast.objects.filter(pk=broadcast.pk).update(preparation_processed=90)
    expect(bar).to_have_attribute("value", "90", timeout=POLL)
    expect(page.locator("[data-testid=preparation]")).to_contain_text("90 of about 120 recipients read (75.0%)")

    Broadcast.objects.filter(pk=broadcast.pk).update(preparing=False, preparation_processed=120)
    expect(page.locator("[data-testid=preparation]")).to_have_count(0, timeout=POLL)
