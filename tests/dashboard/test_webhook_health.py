"""Webhook endpoints' health on the API management page, and an endpoint's deliveries newest first
(issue 21, point 7): a failing endpoint must not look like a healthy one."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.template.defaultfilters import date as date_filter
from django.utils import timezone

from accounts.models import Membership
from tests.factories.accounts import ClientFactory
from tests.webhooks.test_health import attempt_row, endpoint_row
from webhooks.models import WebhookDelivery

from .test_query_counts import PAGES

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status
R = Membership.Role


def shown(value: object, zone: str = "Africa/Kampala") -> str:
    """A time as the dashboard's templates write it: in the user's zone (here the client's, the
    factories' Africa/Kampala), labelled."""
    return str(date_filter(timezone.localtime(value, ZoneInfo(zone)), "Y-m-d H:i T"))


def cells(html: str, url: str) -> dict[str, str]:
    """The row of the endpoint at `url` on the API management page: its cells by data-testid, as text."""
    rows = re.findall(r'<tr data-testid="endpoint-row">(.*?)</tr>', html, re.S)
    (row,) = [r for r in rows if f">{url}</a>" in r]
    found = dict(re.findall(r'data-testid="(endpoint-[a-z-]+)">(.*?)</(?:td|strong|span|dd)>', row, re.S))
    return {key: re.sub(r"\s+", " ", value).strip() for key, value in found.items()}


def test_a_failing_endpoint_shows_failing_its_failures_in_a_row_and_next_retry(login):
    client = ClientFactory()
    web = login(R.ADMIN, client)
    t0 = timezone.now() - timedelta(hours=1)
    failing = endpoint_row(client)
    for minute in range(3):
        attempt_row(failing, D.FAILED, at=t0 + timedelta(minutes=minute), attempt=minute + 1)
    retry = attempt_row(failing, D.PENDING, attempt=4, scheduled_at=timezone.now() + timedelta(minutes=30))
    healthy = endpoint_row(client)
    success = attempt_row(healthy, D.SUCCEEDED, at=t0)
    disabled = endpoint_row(client, active=False, disabled_reason="Disabled in the dashboard.")
    fresh = endpoint_row(client)

    html = web.get("/api-management/").content.decode()

    row = cells(html, failing.url)
    assert row["endpoint-health"] == "Failing"
    assert row["endpoint-failures"] == "3"
    assert row["endpoint-next-retry"] == shown(retry.scheduled_at)
    assert row["endpoint-last-success"] == "never"
    assert row["endpoint-last-error"] == "Last error: http_status: HTTP 500"
    assert ">active<" not in html  # the old state word, the same for failing and healthy endpoints

    row = cells(html, healthy.url)
    assert (row["endpoint-health"], row["endpoint-failures"], row["endpoint-next-retry"]) == ("Healthy", "0", "—")
    assert row["endpoint-last-success"] == shown(success.attempted_at)
    assert "endpoint-last-error" not in row

    row = cells(html, disabled.url)
    assert (row["endpoint-health"], row["endpoint-disabled-reason"]) == ("Disabled", "Disabled in the dashboard.")
    assert cells(html, fresh.url)["endpoint-health"] == "No deliveries yet"


def test_the_endpoint_page_shows_its_health_and_its_deliveries_newest_first(login):
    client = ClientFactory()
    web = login(R.ADMIN, client)
    endpoint = endpoint_row(client)
    t0 = timezone.now() - timedelta(hours=2)
    # Made out of order: the page must order them, not the table.
    for minutes, attempt, status in [(10, 2, D.FAILED), (0, 1, D.FAILED), (30, 4, D.PENDING), (20, 3, D.FAILED)]:
        attempt_row(
            endpoint,
            status,
            attempt=attempt,
            at=t0 + timedelta(minutes=minutes),
            scheduled_at=t0 + timedelta(hours=3) if status == D.PENDING else None,
            created_at=t0 + timedelta(minutes=minutes),
        )

    html = web.get(f"/api-management/webhooks/{endpoint.pk}/").content.decode()

    rows = re.findall(r'<tr data-testid="delivery-row"><td>[^<]*</td><td>(\d+)</td>', html)
    assert rows == ["4", "3", "2", "1"]
    assert re.search(r'data-testid="endpoint-health">Failing<', html)
    assert re.search(r'data-testid="endpoint-failures">3<', html)
    assert f'data-testid="endpoint-next-retry">{shown(t0 + timedelta(hours=3))}<' in html


def _queries(web, path: str) -> int:
    queries: list[str] = []

    def record(execute, sql, *rest):
        queries.append(sql)
        return execute(sql, *rest)

    with connection.execute_wrapper(record):
        assert web.get(path).status_code == 200
    return len(queries)


def test_the_api_page_costs_the_same_queries_however_many_endpoints_and_deliveries(login):
    client = ClientFactory()
    web = login(R.OWNER, client)
    counts = [_queries(web, "/api-management/")]
    t0 = timezone.now() - timedelta(hours=1)
    for n in (1, 5):
        while len(client.webhook_endpoints.all()) < n:
            endpoint = endpoint_row(client)
            attempt_row(endpoint, D.SUCCEEDED, at=t0)
            attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=1))
            attempt_row(endpoint, D.PENDING, attempt=2, scheduled_at=t0 + timedelta(hours=1))
        counts.append(_queries(web, "/api-management/"))
    assert counts == [counts[0]] * 3
    assert counts[0] <= PAGES["/api-management/"]
