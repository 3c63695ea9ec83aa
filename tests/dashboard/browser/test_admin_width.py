"""Issue 21: the admin's message list fits a 1440 × 900 screen — no horizontal scrolling, neither
of the page nor of the results table in its own box (Django's `.results` scrolls sideways rather
than widen the page), even with the longest values the columns can hold."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from broadcasts.models import Message
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-pass-4321"
# Unbreakable values at their fields' full lengths: nothing for the browser to wrap at.
LONG_NAME = "Black_Friday_" + "Z" * (255 - len("Black_Friday_"))
LONG_ERROR = "provider_rejected_" + "x" * (64 - len("provider_rejected_"))
LONG_URN = "telegram:" + "9" * (128 - len("telegram:"))

WIDTH = """() => {
    const page = document.documentElement;
    const results = document.querySelector('#changelist .results');
    return {
        page: [page.scrollWidth, page.clientWidth],
        results: results ? [results.scrollWidth, results.clientWidth] : null,
        rows: document.querySelectorAll('#result_list tbody tr').length,
    };
}"""


def test_the_message_changelist_fits_1440_by_900(live_server: Any, page: Any, make_shop: Any, daytime: Any) -> None:
    shop = make_shop()
    response = shop.create(
        name=LONG_NAME,
        recipients=["+256772000001", "+256772000002", "+254712000001"],
        sender="Herald",
        text="Hello {{first_name|there}}, a long enough text to be two parts " + "and more " * 20,
    )
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    # A second broadcast: the "By broadcast" filter lists both names in the sidebar.
    assert shop.create(name=LONG_NAME[::-1], recipients=["+256772000009"], sender="Herald").status_code == 201
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    Message.objects.filter(pk=ids[0]).update(
        status="failed", sent_at=now, failed_at=now, error_code=LONG_ERROR, error_message="r" * 500, urn=LONG_URN
    )
    Message.objects.filter(pk=ids[1]).update(status="delivered", sent_at=now, delivered_at=now)
    Message.objects.update(provider_message_id="p" * 128)

    staff = UserFactory(username="support", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    page.set_viewport_size({"width": 1440, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/broadcasts/message/")
    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_selector("#result_list")

    width = page.evaluate(WIDTH)
    assert width["rows"] == 4
    (page_scroll, page_client), (results_scroll, results_client) = width["page"], width["results"]
    assert page_scroll <= page_client, f"the page scrolls sideways: {width}"
    assert results_scroll <= results_client, f"the message table scrolls sideways in its box: {width}"
    assert "By broadcast" in page.locator("#changelist-filter").inner_text()
    # What support looks for is still on the list: the failed message's (shortened) reason and number.
    table = page.locator("#result_list").inner_text()
    assert "provider_rejected_" in table
    assert "telegram:999" in table
