"""The overview's last 30 days: sends, deliveries, delivery rate and spend by the day a broadcast
was created (the client's time zone), each day equal to the API's dashboard over that day."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Membership
from broadcasts.models import Message
from dashboard.selectors import client_zone, daily_totals
from wallets.pricing import money

pytestmark = pytest.mark.django_db

R = Membership.Role


def _deliver_all(broadcast_id: object) -> None:
    now = timezone.now()
    Message.objects.filter(broadcast_id=broadcast_id).update(status="delivered", sent_at=now, delivered_at=now)


@pytest.fixture
def three_days(shop, daytime):
    """Two broadcasts three days ago (one delivered), one today (sent, not delivered)."""
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        old = shop.broadcast(shop.create(recipients=["+256772000001", "+256772000002"]))
        _deliver_all(old.pk)
        shop.broadcast(shop.create(recipients=["+254712000001"]))
    today = shop.broadcast(shop.create(recipients=["+256772000003"]))
    Message.objects.filter(broadcast=today).update(status="sent", sent_at=timezone.now())
    return old, today


def test_each_day_adds_up_its_broadcasts(shop, three_days):
    days = daily_totals(client=shop.client)
    assert len(days) == 30
    busy = {d.day: (d.broadcasts, d.sent, d.delivered, d.delivery_rate) for d in days if d.broadcasts}
    today = timezone.localtime(timezone.now(), client_zone(shop.client)).date()
    assert busy == {today - timedelta(days=3): (2, 2, 2, 1.0), today: (1, 1, 0, 0.0)}
    assert days[-1].day == today


def test_a_day_equals_the_apis_dashboard_over_that_day(login, shop, three_days):
    response = login(R.VIEWER, shop.client).get("/")
    assert response.status_code == 200
    shown = response.context["days"]
    assert len(shown) == 2
    zone = client_zone(shop.client)
    for day in shown:
        start = timezone.make_aware(timezone.datetime.combine(day.day, timezone.datetime.min.time()), zone)
        api = shop.api.get(
            "/api/v1/broadcasts/dashboard/",
            {"created_after": start.isoformat(), "created_before": (start + timedelta(days=1)).isoformat()},
        ).json()["totals"]
        assert (day.broadcasts, day.sent, day.delivered, day.delivery_rate) == (
            api["broadcasts"],
            api["sent"],
            api["delivered"],
            api["delivery_rate"],
        )
        assert Decimal(money(day.cost)) == Decimal(api["cost"])
    body = response.content.decode()
    assert 'data-testid="days"' in body
    assert '<svg class="chart"' in body
    assert "peak 2 sent in a day" in body


def test_a_new_client_sees_an_empty_month(login, shop):
    response = login(R.VIEWER, shop.client).get("/")
    assert response.context["days"] == []
    assert "No broadcasts in the last 30 days." in response.content.decode()
