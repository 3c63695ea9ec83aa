"""Issue 21, point 8: the charts are drawn by a charting library the app serves itself (uPlot,
vendored), from a data block of epoch seconds and counts in buckets sized to the broadcast's span,
zero-filled, with the server-drawn SVG kept as the fallback and description."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from accounts.models import Client, Membership
from broadcasts.models import Broadcast, Message
from dashboard.charts import bar_chart, per_label, sends_chart
from dashboard.selectors import SEND_BUCKETS_MAX, send_buckets

pytestmark = pytest.mark.django_db

R = Membership.Role
T0 = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # 10:00 in Kampala (EAT)
PHONES = [f"+25677200{n:04d}" for n in range(1, 7)]


def broadcast_sent_at(shop, *offsets: float, is_test: bool = False) -> Broadcast:
    """A broadcast whose messages left `offsets` seconds after T0 (the rest never sent)."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES[: max(len(offsets), 1)]))
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    for pk, offset in zip(ids, offsets, strict=False):
        Message.objects.filter(pk=pk).update(status="sent", sent_at=T0 + timedelta(seconds=offset), is_test=is_test)
    return broadcast


def data_block(body: str, block_id: str) -> dict:
    match = re.search(rf'<script id="{block_id}" type="application/json">(.*?)</script>', body, re.S)
    assert match, f"no {block_id} block"
    return json.loads(match.group(1))


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (3 * 60, 10),  # a few minutes: 10 s buckets
        (90 * 60, 60),  # an hour and a half: 1 min
        (15 * 3600, 600),  # most of a day: 10 min
        (3 * 86400, 3600),  # days: 1 h
    ],
)
def test_the_bucket_size_suits_the_span(shop, daytime, span, step):
    buckets = send_buckets(broadcast=broadcast_sent_at(shop, 0, span))
    assert buckets.step == step
    assert len(buckets.points) <= SEND_BUCKETS_MAX
    assert buckets.points[0] == (T0, 1)
    assert buckets.points[-1] == (T0 + timedelta(seconds=span), 1)
    assert sum(count for _, count in buckets.points) == 2
    assert all(
        b - a == timedelta(seconds=step) for (a, _), (b, _) in zip(buckets.points, buckets.points[1:], strict=False)
    )


def test_a_very_long_span_gets_whole_days_and_stays_within_the_cap(shop, daytime):
    buckets = send_buckets(broadcast=broadcast_sent_at(shop, 0, 400 * 86400))
    assert buckets.step % 86400 == 0
    assert buckets.step > 86400
    assert len(buckets.points) <= SEND_BUCKETS_MAX


def test_gaps_are_zero_filled_and_tests_and_unsent_messages_left_out(shop, daytime):
    broadcast = broadcast_sent_at(shop, 0, 1, 52, 58)  # and two never sent
    test = broadcast_sent_at(shop, 30, is_test=True)
    Message.objects.filter(broadcast=test).update(broadcast=broadcast)
    buckets = send_buckets(broadcast=broadcast)
    assert buckets.step == 10
    assert [(at - T0).seconds for at, _ in buckets.points] == [0, 10, 20, 30, 40, 50]
    assert [count for _, count in buckets.points] == [2, 0, 0, 0, 0, 2]


def test_one_message_is_one_bucket_and_none_is_empty(shop, daytime):
    assert send_buckets(broadcast=broadcast_sent_at(shop, 5)).points == [(T0, 1)]
    empty = send_buckets(broadcast=broadcast_sent_at(shop))
    assert empty.points == []
    assert sends_chart(empty).empty


def test_the_buckets_take_one_query(shop, daytime, django_assert_num_queries):
    broadcast = broadcast_sent_at(shop, 0, 700, 5000)
    with django_assert_num_queries(1):
        send_buckets(broadcast=broadcast)


def test_hour_buckets_start_on_the_users_hour(shop, daytime):
    broadcast = broadcast_sent_at(shop, 0, 3 * 86400)
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: a UTC hour starts at :30 there
    with timezone.override(kolkata):
        buckets = send_buckets(broadcast=broadcast)
        chart = sends_chart(buckets)
    assert buckets.step == 3600
    assert {at.astimezone(kolkata).minute for at, _ in buckets.points} == {0}
    assert (chart.plot["tz"], chart.zone, chart.first, chart.per) == ("Asia/Kolkata", "IST", "Dec 07 12:00", "hour")


def test_per_label():
    assert [per_label(s) for s in (10, 30, 60, 600, 3600, 7200, 86400)] == [
        "10 seconds",
        "30 seconds",
        "minute",
        "10 minutes",
        "hour",
        "2 hours",
        "day",
    ]


def test_the_plot_data_of_days_is_their_utc_midnights():
    chart = bar_chart([(datetime(2026, 12, 6), 3), (datetime(2026, 12, 7), 0)], moment="%b %d", zone="", step=86400)
    assert chart.plot["x"] == [
        int(datetime(2026, 12, 6, tzinfo=UTC).timestamp()),
        int(datetime(2026, 12, 7, tzinfo=UTC).timestamp()),
    ]
    assert chart.plot["y"] == [3, 0]
    assert (chart.plot["tz"], chart.plot["time"]) == ("UTC", False)


def test_the_detail_page_and_its_live_fragment_carry_the_data_in_the_users_zone(login, shop, daytime):
    Client.objects.filter(pk=shop.client.pk).update(timezone="Africa/Kampala")
    shop.client.refresh_from_db()
    broadcast = broadcast_sent_at(shop, 0, 0, 25, 50)
    web = login(R.VIEWER, shop.client)
    for path in (f"/broadcasts/{broadcast.pk}/", f"/broadcasts/{broadcast.pk}/progress/"):
        body = web.get(path).content.decode()
        data = data_block(body, "chart-sends-data")
        start = int(T0.timestamp())
        assert data["x"] == [start, start + 10, start + 20, start + 30, start + 40, start + 50]
        assert data["y"] == [2, 0, 1, 0, 0, 1]
        assert (data["step"], data["tz"], data["zone"], data["per"]) == (10, "Africa/Kampala", "EAT", "10 seconds")
        assert 'data-chart-data="chart-sends-data"' in body
        assert "Sends per 10 seconds" in body
        # The fallback SVG and its description stay, in the user's zone.
        assert '<svg class="chart"' in body
        assert 'aria-label="Sends per 10 seconds from 10:00:00 to 10:00:50 EAT, peak 2"' in body


def test_the_overview_carries_the_daily_data_and_keeps_the_table(login, shop, daytime):
    broadcast_sent_at(shop, 0, 1)
    body = login(R.VIEWER, shop.client).get("/").content.decode()
    data = data_block(body, "chart-daily-data")
    assert len(data["x"]) == len(data["y"]) == 30
    assert (sum(data["y"]), data["step"], data["per"]) == (2, 86400, "day")
    assert all(x % 86400 == 0 for x in data["x"])
    assert 'data-testid="days"' in body
    assert '<svg class="chart"' in body


def test_the_library_is_served_by_the_app_and_nothing_comes_from_elsewhere(login, shop, daytime):
    broadcast = broadcast_sent_at(shop, 0)
    web = login(R.VIEWER, shop.client)
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "README.md"):
        assert finders.find(f"dashboard/vendor/{name}"), name
    assert finders.find("dashboard/charts.js")
    for path in ("/", f"/broadcasts/{broadcast.pk}/", "/broadcasts/", "/settings/"):
        body = web.get(path).content.decode()
        sources = re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="([^"]*)"', body)
        assert not [s for s in sources if re.match(r"(?i)(https?:)?//", s)], (path, sources)
        assert re.search(r'<script src="/static/dashboard/vendor/uPlot\.iife\.min[^"]*\.js" defer>', body)
        assert re.search(r'<script src="/static/dashboard/charts[^"]*\.js" defer>', body)
        assert re.search(r'<link rel="stylesheet" href="/static/dashboard/vendor/uPlot\.min[^"]*\.css">', body)
