"""Events are recorded in the transaction of their change, in bulk, and only for endpoints that want them."""

from __future__ import annotations

import json

import pytest
import standardwebhooks
from django.db import transaction

from contacts.models import Contact
from webhooks.events import CONTACT_OPTED_OUT, MESSAGE_DELIVERED, MESSAGE_SENT
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services import event_record, events_record


@pytest.mark.django_db(transaction=True)
def test_an_event_for_a_change_that_rolled_back_is_never_sent(api, make_endpoint, receiver):
    make_endpoint(api, receiver.url())

    def change_that_fails() -> None:
        with transaction.atomic():
            event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 1})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not WebhookEvent.objects.exists()
    with transaction.atomic():
        event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data={"message_id": 2})
        assert receiver.requests == []  # nothing goes before the commit
    # CELERY_TASK_ALWAYS_EAGER: the task enqueued on commit has run.
    assert [json.loads(r.body)["data"] for r in receiver.requests] == [{"message_id": 2}]
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_events_for_10000_messages_take_three_queries(api, make_endpoint, django_assert_num_queries):
    make_endpoint(api, "http://127.0.0.1:9/a")
    make_endpoint(api, "http://127.0.0.1:9/b", events=[MESSAGE_DELIVERED])
    make_endpoint(api, "http://127.0.0.1:9/c", events=[MESSAGE_SENT])  # not this type
    items = [{"message_id": i, "broadcast_id": "b", "status": "delivered"} for i in range(10_000)]
    with django_assert_num_queries(3):  # the endpoints, one INSERT of events, one of their attempts
        assert events_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, items=items) == 10_000
    assert WebhookEvent.objects.count() == 10_000
    assert WebhookDelivery.objects.count() == 20_000
    assert WebhookEvent.objects.filter(data__message_id=9_999).count() == 1


@pytest.mark.django_db
def test_nothing_is_written_when_no_endpoint_wants_the_event(api, make_endpoint, django_assert_num_queries):
    make_endpoint(api, "http://127.0.0.1:9/a", events=[MESSAGE_SENT])
    with django_assert_num_queries(1):
        assert events_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, items=[{"message_id": 1}]) == 0
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_an_unknown_event_type_is_a_programming_error(api):
    with pytest.raises(ValueError, match="Unknown webhook event type"):
        events_record(client_id=api.tenant.pk, type="message.exploded", items=[{}])


@pytest.mark.django_db
def test_an_opt_out_sends_contact_opted_out_once(api, make_endpoint, receiver, django_capture_on_commit_callbacks):
    _endpoint, secret = make_endpoint(api, receiver.url(), events=[CONTACT_OPTED_OUT])
    contact = Contact.objects.create(client=api.tenant, phone="+256772123456")
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/contacts/{contact.pk}/opt-out/").status_code == 200
        assert api.post(f"/api/v1/contacts/{contact.pk}/opt-out/").status_code == 200  # already: no event
        assert api.post(f"/api/v1/contacts/{contact.pk}/opt-in/").status_code == 200  # no event for opt-in
    (request,) = receiver.requests
    body = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    contact.refresh_from_db()
    assert body["type"] == CONTACT_OPTED_OUT
    assert body["data"]["contact_id"] == str(contact.pk)
    assert body["data"]["phone"] == "+256772123456"
    assert body["data"]["source"] == "api"
    assert body["data"]["opted_out_at"] is not None
