"""Support staff's admin (secret never shown, retry now, disable) and the beat task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from webhooks import delivery, tasks
from webhooks.events import MESSAGE_DELIVERED
from webhooks.models import WebhookDelivery
from webhooks.services import event_record

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    return client


def test_admin_pages_load_and_never_show_the_secret(staff, api, make_endpoint, receiver):
    endpoint, secret = make_endpoint(api, receiver.url())
    event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 1})
    attempt = WebhookDelivery.objects.get()
    pages = [
        "/admin/webhooks/webhookendpoint/?active__exact=1",
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        "/admin/webhooks/webhookdelivery/?status__exact=pending",
        f"/admin/webhooks/webhookdelivery/{attempt.pk}/change/",
    ]
    for page in pages:
        answer = staff.get(page)
        assert answer.status_code == 200, page
        assert secret.encode() not in answer.content
        assert secret.removeprefix("whsec_").encode() not in answer.content


def test_retry_now_sends_a_failed_attempt_again(
    staff, api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answer_next(500)
    make_endpoint(api, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 1})
    failed = WebhookDelivery.objects.get(attempt=1)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/webhooks/webhookdelivery/", {"action": "retry_now", "_selected_action": [failed.pk]})
    # The waiting retry (due in ~5 s) was brought forward and sent.
    assert list(WebhookDelivery.objects.order_by("attempt").values_list("attempt", "status")) == [
        (1, D.FAILED),
        (2, D.SUCCEEDED),
    ]
    # Retries exhausted: "retry now" adds an attempt.
    receiver.answer_next(500)
    WebhookDelivery.objects.filter(attempt=2).update(status=D.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/webhooks/webhookdelivery/", {"action": "retry_now", "_selected_action": [failed.pk]})
    assert WebhookDelivery.objects.filter(attempt=3).exists()
    assert len(receiver.requests) == 3


def test_disable_action(staff, api, make_endpoint, receiver):
    endpoint, _ = make_endpoint(api, receiver.url())
    event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 1})
    staff.post("/admin/webhooks/webhookendpoint/", {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert endpoint.disabled_reason == "Disabled by Herald support."
    assert WebhookDelivery.objects.get().error == "endpoint_disabled"


def test_tick_returns_a_dead_workers_attempts_and_sends_them(api, make_endpoint, receiver):
    make_endpoint(api, receiver.url())
    event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 1})
    (claimed,) = delivery.deliveries_claim()  # … and the worker died
    WebhookDelivery.objects.filter(pk=claimed.id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert tasks.tick.delay().get() == 1
    assert WebhookDelivery.objects.get().status == D.SUCCEEDED
    assert len(receiver.requests) == 1
