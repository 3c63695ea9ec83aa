"""An endpoint's health (webhooks.selectors.endpoint_health_queryset): last success, failures in a
row since it, next retry, last error and a state word, for all of a client's endpoints in one query."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Client
from tests.factories.accounts import ClientFactory
from webhooks import selectors
from webhooks.delivery import DISABLED_ERROR, FORMAT_ERROR
from webhooks.events import MESSAGE_DELIVERED
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.selectors import EndpointHealth, endpoint_health, endpoint_health_list, endpoint_health_queryset

from .conftest import make_retries_due, send_due

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status
H = EndpointHealth
_ids = itertools.count()


# --- rows made directly (the helpers are shared with tests/dashboard/test_webhook_health.py) ----------


def endpoint_row(client: Client, **fields: Any) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        client=client, url=f"https://example.com/hook/{next(_ids)}", events=["*"], secret="whsec_test", **fields
    )


def attempt_row(
    endpoint: WebhookEndpoint,
    status: str,
    *,
    at: datetime | None = None,
    attempt: int = 1,
    error: str = "",
    scheduled_at: datetime | None = None,
    created_at: datetime | None = None,
    event: WebhookEvent | None = None,
) -> WebhookDelivery:
    """One attempt: `at` is when it was made (failed/succeeded), `scheduled_at` when it goes (pending)."""
    now = timezone.now()
    if event is None:
        event = WebhookEvent.objects.create(
            id=f"evt_{next(_ids):026d}", client=endpoint.client, type=MESSAGE_DELIVERED, created_at=now, data={}
        )
    row = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=event,
        event_type=event.type,
        attempt=attempt,
        status=status,
        scheduled_at=scheduled_at or at or now,
        attempted_at=at if status in (D.SUCCEEDED, D.FAILED) else None,
        status_code={D.SUCCEEDED: 200, D.FAILED: 500}.get(status),
        error=error or ("http_status: HTTP 500" if status == D.FAILED else ""),
    )
    if created_at is not None:
        WebhookDelivery.objects.filter(pk=row.pk).update(created_at=created_at)
        row.created_at = created_at
    return row


def health_of(endpoint: WebhookEndpoint) -> EndpointHealth:
    return endpoint_health(endpoint_health_queryset(client=endpoint.client).get(pk=endpoint.pk))


@pytest.fixture
def client_() -> Client:
    return ClientFactory()


@pytest.fixture
def t0() -> datetime:
    return timezone.now() - timedelta(hours=6)


# --- the four states ----------------------------------------------------------------------------------


def test_an_endpoint_whose_every_attempt_failed_is_failing_with_its_count_next_retry_and_last_error(client_, t0):
    endpoint = endpoint_row(client_)
    attempt_row(endpoint, D.FAILED, at=t0, error="connection_error: ClientConnectorError")
    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=1), attempt=2)
    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=2), error="timeout: no answer within 10 s")
    later_retry = attempt_row(endpoint, D.PENDING, attempt=3, scheduled_at=t0 + timedelta(hours=2))
    next_retry = attempt_row(endpoint, D.PENDING, attempt=2, scheduled_at=t0 + timedelta(minutes=7))
    attempt_row(endpoint, D.PENDING, attempt=1, scheduled_at=t0)  # a new event's first attempt: not a retry

    health = health_of(endpoint)

    assert (health.state, health.label) == (H.FAILING, "Failing")
    assert health.last_success_at is None
    assert (health.consecutive_failures, health.failures_capped) == (3, False)
    assert health.next_retry_at == next_retry.scheduled_at < later_retry.scheduled_at
    assert health.last_error == "timeout: no answer within 10 s"
    assert health.disabled_reason == ""


def test_a_recovered_endpoint_is_healthy_and_failures_before_its_last_success_do_not_count(client_, t0):
    endpoint = endpoint_row(client_)
    attempt_row(endpoint, D.SUCCEEDED, at=t0)
    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=1))
    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=2))
    success = attempt_row(endpoint, D.SUCCEEDED, at=t0 + timedelta(minutes=3), attempt=2)

    health = health_of(endpoint)

    assert (health.state, health.label) == (H.HEALTHY, "Healthy")
    assert health.last_success_at == success.attempted_at
    assert (health.consecutive_failures, health.last_error, health.next_retry_at) == (0, "", None)

    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=4), error="http_status: HTTP 503")
    again = health_of(endpoint)
    assert (again.state, again.consecutive_failures, again.last_error) == (H.FAILING, 1, "http_status: HTTP 503")
    assert again.last_success_at == success.attempted_at


def test_a_disabled_endpoint_says_so_and_why_and_its_cancelled_attempts_are_not_failures(client_, t0):
    reason = "Every delivery attempt failed for 3 days (since 2026-01-01T00:00:00Z); PATCH active: true resumes."
    endpoint = endpoint_row(client_, active=False, disabled_reason=reason)
    attempt_row(endpoint, D.SUCCEEDED, at=t0 - timedelta(days=4))
    attempt_row(endpoint, D.FAILED, at=t0 - timedelta(days=3))
    attempt_row(endpoint, D.FAILED, at=t0)
    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(seconds=1), error=DISABLED_ERROR, attempt=2)

    health = health_of(endpoint)

    assert (health.state, health.label, health.disabled_reason) == (H.DISABLED, "Disabled", reason)
    assert (health.consecutive_failures, health.last_error) == (2, "http_status: HTTP 500")
    assert health.next_retry_at is None


def test_an_endpoint_not_yet_sent_to_has_no_deliveries_yet(client_):
    untouched = endpoint_row(client_)
    waiting = endpoint_row(client_)
    attempt_row(waiting, D.PENDING)  # its first attempt, not made yet
    skipped = endpoint_row(client_)
    attempt_row(skipped, D.FAILED, at=timezone.now(), error=FORMAT_ERROR)  # not sent: not the endpoint's fault

    for endpoint in (untouched, waiting, skipped):
        health = health_of(endpoint)
        assert (health.state, health.label) == (H.NO_DELIVERIES, "No deliveries yet")
        assert (health.last_success_at, health.consecutive_failures, health.next_retry_at) == (None, 0, None)
        assert health.last_error == ""


def test_failures_are_counted_up_to_a_cap(client_, t0, monkeypatch):
    monkeypatch.setattr(selectors, "FAILURES_COUNTED", 2)
    endpoint = endpoint_row(client_)
    for minute in range(2):
        attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=minute))
    assert (health_of(endpoint).consecutive_failures, health_of(endpoint).failures_capped) == (2, False)
    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=5))
    assert (health_of(endpoint).consecutive_failures, health_of(endpoint).failures_capped) == (2, True)


# --- all of a client's endpoints, in one query, by index -----------------------------------------------


def test_every_endpoint_of_the_client_in_one_query_newest_first(client_, t0, django_assert_num_queries):
    other = endpoint_row(ClientFactory())
    attempt_row(other, D.FAILED, at=t0)
    made = []
    for i in range(4):
        endpoint = endpoint_row(client_)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(created_at=t0 + timedelta(minutes=i))
        attempt_row(endpoint, D.FAILED if i % 2 else D.SUCCEEDED, at=t0)
        attempt_row(endpoint, D.PENDING, attempt=2, scheduled_at=t0 + timedelta(hours=1))
        made.append(endpoint.pk)

    with django_assert_num_queries(1):
        listed = endpoint_health_list(client=client_)

    assert [h.endpoint.pk for h in listed] == made[::-1]
    assert [h.state for h in listed] == [H.FAILING, H.HEALTHY, H.FAILING, H.HEALTHY]


def test_the_health_query_probes_the_delivery_indexes(client_, t0):
    endpoint = endpoint_row(client_)
    attempt_row(endpoint, D.SUCCEEDED, at=t0)
    attempt_row(endpoint, D.FAILED, at=t0 + timedelta(minutes=1))
    attempt_row(endpoint, D.PENDING, attempt=2, scheduled_at=t0 + timedelta(hours=1))
    # An endpoint with a history, as at scale (thousands of successes, a few failures and retries),
    # and statistics that say so: the planner's choice must not depend on what other tests left in
    # the table's statistics (it once picked another index and filtered, one run in a few).
    events = WebhookEvent.objects.bulk_create(
        WebhookEvent(id=f"evt_{next(_ids):026d}", client=client_, type=MESSAGE_DELIVERED, created_at=t0, data={})
        for _ in range(3000)
    )
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            event_type=event.type,
            attempt=1,
            status=D.SUCCEEDED,
            attempted_at=t0 - timedelta(minutes=i),
            scheduled_at=t0 - timedelta(minutes=i),
        )
        for i, event in enumerate(events, start=1)
    )
    sql, params = endpoint_health_queryset(client=client_).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhooks_webhookdelivery")
        cursor.execute("SET LOCAL enable_seqscan = off")  # ask what it would do at scale
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "webhook_delivery_outcome_idx" in plan, plan
    assert "webhook_delivery_waiting_idx" in plan, plan
    assert "Seq Scan on webhooks_webhookdelivery" not in plan, plan


# --- as delivery records it ---------------------------------------------------------------------------


def test_health_follows_real_deliveries_failing_then_recovering(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    from webhooks.services import event_record

    endpoint, _secret = make_endpoint(api, receiver.url())
    assert health_of(endpoint).state == H.NO_DELIVERIES

    receiver.answer_always(500, body="down")
    with django_capture_on_commit_callbacks(execute=True):
        event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 1})
    failing = health_of(endpoint)
    first = WebhookDelivery.objects.get(endpoint=endpoint, attempt=1)
    retry = WebhookDelivery.objects.get(endpoint=endpoint, attempt=2)
    assert (failing.state, failing.consecutive_failures, failing.last_error) == (H.FAILING, 1, "http_status: HTTP 500")
    assert failing.next_retry_at == retry.scheduled_at == first.next_retry_at
    assert failing.last_success_at is None

    make_retries_due()
    assert send_due() == 1
    retry.refresh_from_db()
    assert health_of(endpoint).consecutive_failures == 2
    assert health_of(endpoint).next_retry_at == retry.next_retry_at

    receiver.answer_always(200)
    make_retries_due()
    assert send_due() == 1
    healthy = health_of(endpoint)
    third = WebhookDelivery.objects.get(endpoint=endpoint, attempt=3)
    assert (healthy.state, healthy.consecutive_failures, healthy.next_retry_at) == (H.HEALTHY, 0, None)
    assert healthy.last_success_at == third.attempted_at
