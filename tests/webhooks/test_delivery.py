"""Delivery to real local receivers: signatures, retries, timeouts, redirects, disabling."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import standardwebhooks
from django.db.models import F
from django.utils import timezone

from accounts.models import Client
from webhooks import delivery
from webhooks.events import MESSAGE_DELIVERED, MESSAGE_FAILED
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services import event_record, events_record

from .conftest import make_retries_due, send_due

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status


def verify(secret: str, request: Any) -> Any:
    return standardwebhooks.Webhook(secret).verify(request.body, request.headers)


def record(client: Client, type: str = MESSAGE_DELIVERED, **data: Any) -> None:
    event_record(client_id=client.pk, type=type, data={"message_id": 1, **data})


def test_every_delivery_verifies_with_standardwebhooks_and_not_with_another_secret(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    _endpoint, secret = make_endpoint(api, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        events_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, items=[{"message_id": i} for i in range(3)])
    assert len(receiver.requests) == 3
    bodies = [verify(secret, r) for r in receiver.requests]
    assert sorted(b["data"]["message_id"] for b in bodies) == [0, 1, 2]
    for request, body in zip(receiver.requests, bodies, strict=True):
        assert set(body) == {"id", "type", "created_at", "data"}
        assert body["type"] == MESSAGE_DELIVERED
        assert body["id"].startswith("evt_")
        assert request.headers["webhook-id"] == body["id"]
        assert request.headers["webhook-signature"].startswith("v1,")
        assert request.headers["content-type"] == "application/json"
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            standardwebhooks.Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    assert WebhookDelivery.objects.filter(status=D.SUCCEEDED).count() == 3


def test_a_500_then_a_200_gives_the_same_webhook_id_twice_and_both_attempts_are_listed(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(api, receiver.url())
    receiver.answer_next(500, body="boom")
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    first = WebhookDelivery.objects.get(attempt=1)
    assert (first.status, first.status_code, first.response_body, first.error) == (
        D.FAILED,
        500,
        "boom",
        "http_status: HTTP 500",
    )
    retry = WebhookDelivery.objects.get(attempt=2)
    assert retry.status == D.PENDING
    assert first.next_retry_at == retry.scheduled_at
    # ~5 s with ±20 % jitter, from when the attempt was recorded: its start plus the request's time
    # (a slow round trip on a loaded machine must not read as too long a delay).
    took = timedelta(milliseconds=first.duration_ms or 0)
    assert timedelta(seconds=3.9) <= first.next_retry_at - first.attempted_at - took <= timedelta(seconds=6.1)

    make_retries_due()
    assert send_due() == 1
    assert [r.headers["webhook-id"] for r in receiver.requests] == [first.event_id] * 2
    for request in receiver.requests:
        verify(secret, request)

    answer = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()["results"]
    assert [(a["attempt"], a["outcome"], a["status_code"], a["event_id"], a["event_type"]) for a in answer] == [
        (2, "succeeded", 200, first.event_id, MESSAGE_DELIVERED),
        (1, "failed", 500, first.event_id, MESSAGE_DELIVERED),
    ]
    assert answer[1]["next_retry_at"] is not None
    assert answer[1]["error"] == "http_status: HTTP 500"
    assert answer[0]["duration_ms"] is not None
    failed = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?outcome=failed").json()["results"]
    assert [a["attempt"] for a in failed] == [1]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_receiver_that_times_out_is_retried(
    api, make_endpoint, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(delivery, "TIMEOUT", 0.3)
    make_endpoint(api, receiver.url())
    receiver.answer_next(200, delay=1.5)
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    first = WebhookDelivery.objects.get(attempt=1)
    assert first.status == D.FAILED
    assert first.error.startswith("timeout")
    assert first.status_code is None
    make_retries_due()
    send_due()
    assert WebhookDelivery.objects.get(attempt=2).status == D.SUCCEEDED
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_a_redirect_is_not_followed(api, make_endpoint, receiver, django_capture_on_commit_callbacks):
    make_endpoint(api, receiver.url("/old"))
    receiver.answer_next(302, headers={"Location": receiver.url("/new")})
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    assert [r.path for r in receiver.requests] == ["/old"]
    first = WebhookDelivery.objects.get(attempt=1)
    assert (first.status, first.status_code, first.error) == (D.FAILED, 302, "redirect_not_followed: HTTP 302")
    assert WebhookDelivery.objects.filter(attempt=2, status=D.PENDING).exists()


def test_only_subscribed_active_endpoints_of_the_client_receive_an_event(
    api, make_api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    make_endpoint(api, receiver.url("/failed-only"), events=[MESSAGE_FAILED])
    make_endpoint(api, receiver.url("/all"))
    disabled, _ = make_endpoint(api, receiver.url("/disabled"))
    api.patch(f"/api/v1/webhooks/{disabled.pk}/", {"active": False}, format="json")
    other = make_api()
    make_endpoint(other, receiver.url("/other-client"))
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant, MESSAGE_DELIVERED)
        record(api.tenant, MESSAGE_FAILED)
    assert sorted(r.path for r in receiver.requests) == ["/all", "/all", "/failed-only"]


def test_rotate_secret_invalidates_the_old_secret(api, make_endpoint, receiver, django_capture_on_commit_callbacks):
    endpoint, old = make_endpoint(api, receiver.url())
    answer = api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/")
    assert answer.status_code == 200
    new = answer.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert "secret" not in api.get(f"/api/v1/webhooks/{endpoint.pk}/").json()
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    (request,) = receiver.requests
    verify(new, request)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        verify(old, request)


def test_the_test_action_sends_webhook_test_to_that_endpoint_only(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(api, receiver.url("/a"), events=[MESSAGE_FAILED])
    make_endpoint(api, receiver.url("/b"))
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"/api/v1/webhooks/{endpoint.pk}/test/")
    assert answer.status_code == 200
    event = answer.json()
    assert event["type"] == "webhook.test"
    (request,) = receiver.requests
    assert request.path == "/a"
    assert verify(secret, request) == event
    listed = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?event_type=webhook.test").json()["results"]
    assert [(d["event_id"], d["outcome"]) for d in listed] == [(event["id"], "succeeded")]


def test_testing_a_disabled_endpoint_is_a_conflict(api, make_endpoint, receiver):
    endpoint, _ = make_endpoint(api, receiver.url())
    api.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"active": False}, format="json")
    answer = api.post(f"/api/v1/webhooks/{endpoint.pk}/test/")
    assert answer.status_code == 409
    assert answer.json()["error"]["type"] == "conflict"


def test_retries_stop_after_24_hours(api, make_endpoint, receiver, django_capture_on_commit_callbacks):
    receiver.answer_always(503)
    make_endpoint(api, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    for _ in range(12):
        pending = WebhookDelivery.objects.filter(status=D.PENDING).first()
        if pending is None:
            break
        # Time passes until the retry is due: the event ages by as much.
        gap = pending.scheduled_at - timezone.now()
        WebhookEvent.objects.update(created_at=F("created_at") - gap)
        make_retries_due()
        send_due()
    assert WebhookEvent.objects.get().created_at < timezone.now() - timedelta(hours=23)
    attempts = list(WebhookDelivery.objects.order_by("attempt").values_list("attempt", "status", "next_retry_at"))
    # Nothing is ever scheduled beyond 24 h after the event: 5 s … 10 h, then the end of the window.
    assert all(status == D.FAILED for _a, status, _n in attempts)
    assert attempts[-1][2] is None
    assert len(attempts) == len(receiver.requests) == 8  # the first, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h


@pytest.mark.parametrize("draw", [None, 1 - delivery.JITTER, 1 + delivery.JITTER])
def test_retry_schedule_is_exponential_with_jitter_and_ends_at_24_hours(monkeypatch, draw):
    # None: real random draws; the extremes pin that the count of retries never depends on the jitter.
    if draw is not None:
        monkeypatch.setattr(delivery.random, "uniform", lambda _a, _b: draw)
    created = timezone.now()
    now = created
    gaps = []
    attempt = 1
    while (when := delivery.next_attempt_at(attempt=attempt, event_created_at=created, now=now)) is not None:
        gaps.append((when - now).total_seconds())
        now, attempt = when, attempt + 1
    expected = [5, 300, 1800, 7200, 18000, 36000]
    for gap, base in zip(gaps, expected, strict=False):
        assert base * 0.8 <= gap <= base * 1.2
    assert now - created <= timedelta(hours=24)
    assert now - created >= timedelta(hours=23)  # the last retry is at the end of the window
    assert len(gaps) == 7


def test_an_endpoint_failing_every_attempt_for_3_days_is_disabled_and_patch_reenables_it(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answer_always(500)
    endpoint, _ = make_endpoint(api, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    endpoint.refresh_from_db()
    assert endpoint.active
    assert endpoint.failing_since is not None
    # Failing for a little under 3 days: still active.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=2, hours=23))
    make_retries_due()
    send_due()
    endpoint.refresh_from_db()
    assert endpoint.active
    # Past 3 days.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=3, minutes=1))
    make_retries_due()
    send_due()
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert endpoint.disabled_reason.startswith("Every delivery attempt failed for 3 days")
    # Its waiting retry is cancelled, and no new event is fanned out to it.
    assert not WebhookDelivery.objects.filter(status=D.PENDING).exists()
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 3
    shown = api.get(f"/api/v1/webhooks/{endpoint.pk}/").json()
    assert (shown["active"], shown["disabled_reason"]) == (False, endpoint.disabled_reason)

    answer = api.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"active": True}, format="json").json()
    assert (answer["active"], answer["disabled_reason"]) == (True, "")
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_success_resets_the_failing_clock(api, make_endpoint, receiver, django_capture_on_commit_callbacks):
    endpoint, _ = make_endpoint(api, receiver.url())
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5))
    with django_capture_on_commit_callbacks(execute=True):
        record(api.tenant)
    endpoint.refresh_from_db()
    assert endpoint.active
    assert endpoint.failing_since is None


def test_a_claimed_attempt_is_not_claimed_again_and_a_dead_workers_lease_returns_it(api, make_endpoint, receiver):
    make_endpoint(api, receiver.url())
    record(api.tenant)  # no commit in this test: delivery is driven by hand
    (claimed,) = delivery.deliveries_claim()
    assert delivery.deliveries_claim() == []
    assert delivery.deliveries_release_stale() == 0
    later = timezone.now() + delivery.LEASE + timedelta(seconds=1)
    assert delivery.deliveries_release_stale(now=later) == 1
    (again,) = delivery.deliveries_claim(now=later)
    assert again.id == claimed.id


def test_the_body_is_the_event_and_the_stored_secret_is_encrypted(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    from django.db import connection

    endpoint, secret = make_endpoint(api, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        event_record(client_id=api.tenant.pk, type=MESSAGE_FAILED, data={"message_id": 7, "error_code": "x"})
    body = json.loads(receiver.requests[0].body)
    assert body["data"] == {"message_id": 7, "error_code": "x"}
    assert body["created_at"].endswith("Z")
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("fernet:")
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored
