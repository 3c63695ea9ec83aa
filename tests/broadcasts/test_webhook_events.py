"""What broadcasts announce through webhooks (SPEC §11): message.sent, .failed, .delivered, .read,
.replied and broadcast.completed, recorded in the transaction of the change, in bulk per batch."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from broadcasts.connectors import InboundMessage, StatusUpdate
from broadcasts.dispatch import dispatch_batch, dispatch_run
from broadcasts.inbound import reply_receive
from broadcasts.models import Broadcast, Connector, Message
from broadcasts.status_updates import messages_apply_status
from webhooks.models import WebhookEvent
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

PHONES = [f"+2567722{i:05d}" for i in range(80)]
BASE = {"message_id", "broadcast_id", "contact_id", "urn", "channel", "status", "provider_message_id"}


@pytest.fixture
def endpoint(shop, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    return webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["*"])


def run(broadcast):
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    broadcast.refresh_from_db()
    return broadcast


def events(event_type):
    return [e.data for e in WebhookEvent.objects.filter(type=event_type).order_by("created_at", "id")]


def test_a_broadcast_announces_each_message_sent_and_its_completion(shop, daytime, recorder, endpoint):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    recorder.outcomes = {Message.objects.filter(broadcast=broadcast).order_by("pk").first().pk: "permanent"}
    broadcast = run(broadcast)
    ids = sorted(Message.objects.filter(broadcast=broadcast).values_list("pk", flat=True))

    sent = events("message.sent")
    assert sorted(e["message_id"] for e in sent) == ids[1:]
    assert all(set(e) == BASE | {"sent_at"} and e["status"] == "sent" for e in sent)
    assert {e["broadcast_id"] for e in sent} == {str(broadcast.pk)}
    assert {e["provider_message_id"] for e in sent} == {f"rec-{i}" for i in ids[1:]}

    [failed] = events("message.failed")
    assert failed["message_id"] == ids[0]
    assert (failed["error_code"], failed["error_message"]) == ("rejected", "Number barred")

    [completed] = events("broadcast.completed")
    assert completed["broadcast_id"] == str(broadcast.pk)
    assert completed["status"] == broadcast.status == "partially_sent"
    assert completed["counts"] == {"failed": 1, "sent": 2}
    assert completed["total_recipients"] == 3
    assert completed["currency"] == broadcast.currency


def test_reports_announce_delivered_read_and_late_failures(shop, daytime, recorder, endpoint):
    broadcast = run(shop.broadcast(shop.create(recipients=PHONES[:3])))
    first, second, third = Message.objects.filter(broadcast=broadcast).order_by("pk")
    messages_apply_status(
        connector_name="recorder",
        updates=[
            StatusUpdate(first.provider_message_id, "delivered"),
            StatusUpdate(second.provider_message_id, "read"),
            StatusUpdate(third.provider_message_id, "failed", "absent"),
            StatusUpdate("rec-unknown", "delivered"),
        ],
    )
    assert [e["message_id"] for e in events("message.delivered")] == [first.pk]
    [read] = events("message.read")
    assert (read["message_id"], read["status"]) == (second.pk, "read")
    assert read["read_at"] is not None
    [late] = events("message.failed")
    assert (late["message_id"], late["error_code"]) == (third.pk, "absent")
    # A duplicate report moves nothing, so it announces nothing.
    messages_apply_status(connector_name="recorder", updates=[StatusUpdate(first.provider_message_id, "delivered")])
    assert len(events("message.delivered")) == 1


def test_a_reply_is_announced_with_the_message_it_answers(shop, daytime, recorder, endpoint):
    broadcast = run(shop.broadcast(shop.create(recipients=PHONES[:1])))
    message = Message.objects.get(broadcast=broadcast)
    connector = Connector.objects.get(name="recorder")
    reply = reply_receive(
        connector=connector, inbound=InboundMessage(urn=message.urn, text="Yes please", provider_message_id="in-1")
    )
    assert reply is not None
    [replied] = events("message.replied")
    assert replied["message_id"] == message.pk
    assert replied["reply_id"] == str(reply.pk)
    assert (replied["text"], replied["urn"]) == ("Yes please", message.urn)


def test_nothing_is_recorded_without_an_endpoint_or_for_a_change_that_rolled_back(shop, daytime, recorder, settings):
    broadcast = run(shop.broadcast(shop.create(recipients=PHONES[:2])))
    assert not WebhookEvent.objects.exists()  # no endpoint: no event rows at all
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["message.delivered"])
    message = Message.objects.filter(broadcast=broadcast).first()
    seen_inside = []

    def report_then_fail():
        with transaction.atomic():
            messages_apply_status(
                connector_name="recorder", updates=[StatusUpdate(message.provider_message_id, "delivered")]
            )
            seen_inside.append(len(events("message.delivered")))
            raise RuntimeError("the change rolls back")

    with pytest.raises(RuntimeError):
        report_then_fail()
    assert seen_inside == [1]
    assert events("message.delivered") == []
    assert Message.objects.get(pk=message.pk).status == "sent"


def test_only_the_subscribed_types_are_recorded(shop, daytime, recorder, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hooks", events=["broadcast.completed"])
    run(shop.broadcast(shop.create(recipients=PHONES[:2])))
    assert set(WebhookEvent.objects.values_list("type", flat=True)) == {"broadcast.completed"}


def test_a_batch_announces_in_a_fixed_number_of_queries(shop, daytime, recorder, endpoint, settings):
    """One INSERT of events per batch, not one per message: the batch's queries do not grow with it."""
    settings.BROADCAST_BATCH_SIZE = 500
    counts = []
    for phones in (PHONES[:5], PHONES[5:80]):
        broadcast = shop.broadcast(shop.create(recipients=phones))
        with CaptureQueriesContext(connection) as queries:
            dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        counts.append(len(queries))
        assert len(events("message.sent")) == Message.objects.filter(status="sent").count()
    assert counts[0] == counts[1]
