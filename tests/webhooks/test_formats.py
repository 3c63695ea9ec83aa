# ruff: noqa: F811 - the shop fixtures are imported from the broadcasts suite, then used by name
"""SPEC §14's webhook `format`: `standard` (SPEC §11), `octopush` (Octopush's delivery-report and
inbound-SMS bodies) and `teekrr` (event names delivered/failed), so a migrating user's receivers keep
working. Signing, retries and the deliveries log are the same for every format."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks
from django.utils import timezone

from accounts.models import User
from broadcasts.connectors import InboundMessage, StatusUpdate
from broadcasts.dispatch import dispatch_run
from broadcasts.inbound import reply_receive
from broadcasts.models import Connector, Message
from broadcasts.status_updates import messages_apply_status
from tests.broadcasts.conftest import _ledger_replays, daytime, make_shop, shop  # noqa: F401 - fixtures
from tests.broadcasts.recorder import recorder  # noqa: F401 - a fixture
from webhooks import formats
from webhooks.delivery import FORMAT_ERROR
from webhooks.events import (
    BROADCAST_COMPLETED,
    CONTACT_OPTED_OUT,
    MESSAGE_CLICKED,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    MESSAGE_READ,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
)
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import event_types_wanted
from webhooks.services import event_record

from .conftest import make_retries_due, send_due

pytestmark = pytest.mark.django_db
D = WebhookDelivery.Status

BROADCAST = uuid.UUID("4f0b6c1e-8a2d-4c9e-9d3b-2f1a7e5c0b11")
TICKET = "sms_4f0b6c1e8a2d4c9e9d3b2f1a7e5c0b11"
AT = "2026-11-24T15:00:05.123Z"
BASE = {
    "message_id": 17,
    "broadcast_id": str(BROADCAST),
    "contact_id": None,
    "urn": "tel:+33612345678",
    "channel": "sms",
    "provider_message_id": "prov-17",
}
DELIVERED = {**BASE, "status": "delivered", "delivered_at": AT}
FAILED = {**BASE, "status": "failed", "failed_at": AT, "error_code": "rejected", "error_message": "Number barred"}
REPLIED = {
    **BASE,
    "status": "delivered",
    "reply_id": "5b0c4a52-4bf5-4e5e-9d38-1b2b7f0f5a11",
    "text": "Oui merci",
    "keyword": "",
    "received_at": AT,
}


@pytest.fixture(autouse=True)
def _public_names_resolve(allow_private):
    """example.com resolves nowhere in this sandbox (as in test_api.py)."""


def create(api: Any, **body: Any) -> Any:
    return api.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/h", "events": ["*"], **body}, format="json")


def verify(secret: str, request: Any) -> Any:
    """As a receiver verifies with the standardwebhooks library: the raw body and the headers."""
    return standardwebhooks.Webhook(secret).verify(request.body, request.headers)


def deliver(api: Any, make_endpoint: Any, receiver: Any, capture: Any, fmt: str, type: str, data: dict) -> tuple:
    endpoint, secret = make_endpoint(api, receiver.url())
    endpoint.format = fmt
    endpoint.save()
    with capture(execute=True):
        event_record(client_id=api.tenant.pk, type=type, data=data)
    [request] = receiver.requests
    return request, verify(secret, request)


# --- the API and the admin ---------------------------------------------------------------------


def test_format_defaults_to_standard_and_is_shown(api):
    body = create(api).json()
    assert body["format"] == "standard"
    assert api.get(f"/api/v1/webhooks/{body['id']}/").json()["format"] == "standard"
    assert api.get("/api/v1/webhooks/").json()["results"][0]["format"] == "standard"


@pytest.mark.parametrize("fmt", ["standard", "octopush", "teekrr"])
def test_format_is_set_on_create(api, fmt):
    answer = create(api, format=fmt)
    assert answer.status_code == 201, answer.content
    assert answer.json()["format"] == fmt
    assert WebhookEndpoint.objects.get().format == fmt


def test_an_unknown_format_is_refused(api):
    answer = create(api, format="twilio")
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == ["format"]
    assert not WebhookEndpoint.objects.exists()


def test_an_octopush_endpoint_takes_only_the_events_octopush_has_a_shape_for(api):
    answer = create(api, format="octopush", events=[MESSAGE_DELIVERED, MESSAGE_CLICKED])
    assert answer.status_code == 400
    assert "no shape for 'message.clicked'" in answer.json()["error"]["fields"]["events"][0]
    shaped = [MESSAGE_SENT, MESSAGE_DELIVERED, MESSAGE_READ, MESSAGE_FAILED, MESSAGE_REPLIED]
    assert create(api, format="octopush", events=shaped).status_code == 201
    assert create(api, format="teekrr", events=[MESSAGE_CLICKED, BROADCAST_COMPLETED]).status_code == 201


def test_patch_changes_the_format_checked_against_the_events(api):
    endpoint = create(api, events=[MESSAGE_DELIVERED, BROADCAST_COMPLETED]).json()
    url = f"/api/v1/webhooks/{endpoint['id']}/"
    refused = api.patch(url, {"format": "octopush"}, format="json")
    assert refused.status_code == 400
    assert "broadcast.completed" in refused.json()["error"]["fields"]["events"][0]
    assert WebhookEndpoint.objects.get().format == "standard"
    answer = api.patch(url, {"format": "octopush", "events": [MESSAGE_DELIVERED]}, format="json")
    assert (answer.status_code, answer.json()["format"], answer.json()["events"]) == (
        200,
        "octopush",
        [MESSAGE_DELIVERED],
    )
    assert api.patch(url, {"format": "teekrr"}, format="json").json()["format"] == "teekrr"
    assert api.patch(url, {"format": "nope"}, format="json").status_code == 400


def test_support_staff_set_the_format_in_the_admin(client, api):
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    endpoint = WebhookEndpoint.objects.get(pk=create(api, events=[MESSAGE_DELIVERED, MESSAGE_CLICKED]).json()["id"])
    page = f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/"
    assert b'name="format"' in client.get(page).content
    refused = client.post(page, {"format": "octopush"})
    assert refused.status_code == 200  # the form again, with the error
    assert b"no shape for" in refused.content
    assert client.post(page, {"format": "teekrr"}).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.format, endpoint.events) == ("teekrr", [MESSAGE_DELIVERED, MESSAGE_CLICKED])


# --- what an octopush endpoint receives ------------------------------------------------------------


@pytest.mark.parametrize(
    ("type", "data", "expected"),
    [
        (
            MESSAGE_DELIVERED,
            DELIVERED,
            {
                "channel": "sms",
                "message_id": TICKET,
                "number": "+33612345678",
                "status": "DELIVERED",
                "delivery_date": "2026-11-24 15:00:05",
                "meta_data": {},
            },
        ),
        (
            MESSAGE_FAILED,
            FAILED,
            {
                "channel": "sms",
                "message_id": TICKET,
                "number": "+33612345678",
                "status": "NOT_DELIVERED",
                "delivery_date": "2026-11-24 15:00:05",
                "meta_data": {},
            },
        ),
        (
            MESSAGE_REPLIED,
            REPLIED,
            {
                "message_id": TICKET,
                "number": "+33612345678",
                "text": "Oui merci",
                "sim_card_number": None,
                "reception_date": "2026-11-24 15:00:05",
            },
        ),
    ],
)
def test_octopush_bodies_are_octopushs_callbacks_and_still_verify(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks, type, data, expected
):
    request, verified = deliver(
        api, make_endpoint, receiver, django_capture_on_commit_callbacks, "octopush", type, data
    )
    assert json.loads(request.body) == expected
    assert verified == expected
    assert request.headers["webhook-id"].startswith("evt_")
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    attempt = WebhookDelivery.objects.get()
    assert (attempt.status, attempt.event_type) == (D.SUCCEEDED, type)  # the log keeps Herald's names


@pytest.mark.parametrize(
    ("type", "extra", "status"),
    [
        (MESSAGE_SENT, {"sent_at": AT}, "ACK"),
        (MESSAGE_READ, {"read_at": AT}, "READ"),
        (MESSAGE_FAILED, {"failed_at": AT, "error_code": "delivery_unknown"}, "UNKNOWN_DELIVERY"),
        (MESSAGE_FAILED, {"failed_at": AT, "error_code": "invalid_number"}, "BAD_DESTINATION"),
        (MESSAGE_FAILED, {"failed_at": AT, "error_code": "twilio_21610"}, "BLACKLISTED_NUMBER"),
        (MESSAGE_FAILED, {"failed_at": AT, "error_code": "max_retries_exceeded"}, "NOT_DELIVERED"),
        (MESSAGE_FAILED, {"failed_at": AT, "error_code": None}, "NOT_DELIVERED"),
    ],
)
def test_herald_statuses_map_to_octopushs(type, extra, status):
    body = json.loads(
        formats.render(
            format="octopush",
            event_id="evt_1",
            type=type,
            created_at=timezone.now(),
            data=json.dumps({**BASE, **extra}),
        )
        or "null"
    )
    assert (body["status"], body["delivery_date"]) == (status, "2026-11-24 15:00:05")


def test_octopush_fields_without_a_value():
    created = datetime(2026, 11, 24, 16, 30, 1, tzinfo=UTC)
    reply = {**REPLIED, "broadcast_id": None, "received_at": None, "urn": "whatsapp:+256772000001", "text": None}
    body = json.loads(
        formats.render(
            format="octopush", event_id="e", type=MESSAGE_REPLIED, created_at=created, data=json.dumps(reply)
        )
        or "null"
    )
    # A reply to no known campaign: Octopush's "original message ticket (if it's found)" is null.
    assert body == {
        "message_id": None,
        "number": "+256772000001",
        "text": "",
        "sim_card_number": None,
        "reception_date": "2026-11-24 16:30:01",
    }
    telegram = {
        **DELIVERED,
        "urn": "telegram:12345",
        "channel": "telegram",
        "delivered_at": "2026-11-24T17:00:00+01:00",
    }
    body = json.loads(
        formats.render(
            format="octopush", event_id="e", type=MESSAGE_DELIVERED, created_at=created, data=json.dumps(telegram)
        )
        or "null"
    )
    assert (body["channel"], body["number"], body["delivery_date"]) == ("telegram", "12345", "2026-11-24 16:00:00")


@pytest.mark.parametrize("type", [MESSAGE_CLICKED, BROADCAST_COMPLETED, CONTACT_OPTED_OUT])
def test_an_octopush_endpoint_subscribed_to_everything_is_sent_only_octopush_shapes(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks, type
):
    endpoint, _secret = make_endpoint(api, receiver.url())
    endpoint.format = "octopush"
    endpoint.save()
    assert type not in event_types_wanted(client_id=api.tenant.pk)  # broadcasts need not even build it
    assert MESSAGE_DELIVERED in event_types_wanted(client_id=api.tenant.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert event_record(client_id=api.tenant.pk, type=type, data={"x": 1}) == 0
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


def test_an_endpoint_switched_to_octopush_drops_waiting_attempts_it_has_no_shape_for(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    endpoint, _secret = make_endpoint(api, receiver.url())
    event_record(client_id=api.tenant.pk, type=MESSAGE_CLICKED, data={"message_id": 1})
    event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data=DELIVERED)
    endpoint.format, endpoint.events = "octopush", [MESSAGE_DELIVERED]
    endpoint.save()
    assert send_due() == 2
    [request] = receiver.requests
    assert json.loads(request.body)["status"] == "DELIVERED"
    dropped = WebhookDelivery.objects.get(event_type=MESSAGE_CLICKED)
    assert (dropped.status, dropped.error, dropped.next_retry_at) == (D.FAILED, FORMAT_ERROR, None)
    assert WebhookDelivery.objects.count() == 2  # no retry scheduled
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.failing_since) == (True, None)  # not a failing endpoint


def test_retries_are_the_same_for_an_octopush_endpoint(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(api, receiver.url())
    endpoint.format = "octopush"
    endpoint.save()
    receiver.answer_next(500)
    with django_capture_on_commit_callbacks(execute=True):
        event_record(client_id=api.tenant.pk, type=MESSAGE_DELIVERED, data=DELIVERED)
    make_retries_due()
    assert send_due() == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verify(secret, first) == verify(secret, second)
    assert list(WebhookDelivery.objects.order_by("attempt").values_list("attempt", "status", "status_code")) == [
        (1, D.FAILED, 500),
        (2, D.SUCCEEDED, 200),
    ]
    listed = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()["results"]
    assert [(d["attempt"], d["event_type"]) for d in listed] == [(2, MESSAGE_DELIVERED), (1, MESSAGE_DELIVERED)]


def test_the_test_event_is_the_standard_envelope_whatever_the_format(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(api, receiver.url())
    for fmt in ("octopush", "teekrr"):
        endpoint.format = fmt
        endpoint.save()
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post(f"/api/v1/webhooks/{endpoint.pk}/test/").status_code == 200
    for request in receiver.requests:
        body = verify(secret, request)
        assert (set(body), body["type"]) == ({"id", "type", "created_at", "data"}, "webhook.test")


# --- teekrr and standard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "type", "data", "name"),
    [
        ("teekrr", MESSAGE_DELIVERED, DELIVERED, "delivered"),
        ("teekrr", MESSAGE_FAILED, FAILED, "failed"),
        ("teekrr", MESSAGE_REPLIED, REPLIED, MESSAGE_REPLIED),  # Teekrr has no name for it: Herald's
        ("standard", MESSAGE_DELIVERED, DELIVERED, MESSAGE_DELIVERED),
        ("standard", MESSAGE_FAILED, FAILED, MESSAGE_FAILED),
        ("standard", MESSAGE_REPLIED, REPLIED, MESSAGE_REPLIED),
    ],
)
def test_teekrr_keeps_the_envelope_with_teekrrs_event_names(
    api, make_endpoint, receiver, django_capture_on_commit_callbacks, fmt, type, data, name
):
    request, body = deliver(api, make_endpoint, receiver, django_capture_on_commit_callbacks, fmt, type, data)
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["type"] == name
    assert body["id"] == request.headers["webhook-id"]
    assert body["data"] == data
    assert WebhookDelivery.objects.get().event_type == type


# --- end to end: a campaign sent through the Octopush API ------------------------------------------


def test_an_octopush_campaigns_reports_and_replies_reach_an_octopush_receiver(
    shop, daytime, recorder, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(shop.api, receiver.url(), [MESSAGE_DELIVERED, MESSAGE_FAILED, MESSAGE_REPLIED])
    endpoint.format = "octopush"
    endpoint.save()
    shop.api.credentials(HTTP_API_KEY=shop.api.raw_key, HTTP_API_LOGIN=str(shop.client.pk))
    body = {
        "text": "Hello",
        "with_replies": True,
        "recipients": [{"phone_number": "+256772000001"}, {"phone_number": "+256772000002"}],
    }
    ticket = shop.api.post("/octopush/v1/public/sms-campaign/send", body, format="json").json()["sms_ticket"]
    with django_capture_on_commit_callbacks(execute=True):
        while dispatch_run(broadcast_id=ticket.removeprefix("sms_")) is not None:
            pass
    first, second = Message.objects.order_by("pk")
    with django_capture_on_commit_callbacks(execute=True):
        messages_apply_status(
            connector_name="recorder",
            updates=[
                StatusUpdate(first.provider_message_id, "delivered"),
                StatusUpdate(second.provider_message_id, "failed", "absent"),
            ],
        )
    with django_capture_on_commit_callbacks(execute=True):
        reply_receive(
            connector=Connector.objects.get(name="recorder"),
            inbound=InboundMessage(urn=first.urn, text="STOP", provider_message_id="in-1"),
        )
    bodies = sorted((verify(secret, r) for r in receiver.requests), key=lambda b: (b.get("status", "~"), b["number"]))
    assert [(b["message_id"], b["number"], b.get("status")) for b in bodies] == [
        (ticket, "+256772000001", "DELIVERED"),
        (ticket, "+256772000002", "NOT_DELIVERED"),
        (ticket, "+256772000001", None),
    ]
    assert bodies[2]["text"] == "STOP"
