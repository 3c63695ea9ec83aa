"""WhatsApp Cloud end to end: an approved template goes out with each recipient's parameters in
the template's order and WhatsApp's language code, and comes back delivered and read through a
callback signed as Meta signs it; the verification handshake answers the challenge."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from django.test import Client

from broadcasts.connectors import http as http_engine
from broadcasts.models import Message, Reply
from tests.factories.templates_app import TemplateFactory
from tests.fakes.whatsapp_cloud import FakeWhatsApp, running

pytestmark = pytest.mark.django_db

TOKEN, PHONE_ID, APP_SECRET, VERIFY = "EAAG-access-token", "106540352242922", "app-secret-123", "verify-me"
UG1, UG2 = "+256772000111", "+256772000222"


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    yield from running(access_token=TOKEN, phone_number_id=PHONE_ID)
    http_engine.close_clients()


@pytest.fixture
def wa(make_shop, fake):
    shop = make_shop(  # the demo routes send every channel through the connector named "simulator"
        channel="whatsapp",
        backend="whatsapp_cloud",
        config={
            "phone_number_id": PHONE_ID,
            "access_token": TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
            "base_url": fake.base_url,
        },
    )
    TemplateFactory(
        client=shop.client,
        channel="whatsapp",
        name="order_ready",
        language="eng",
        content="Hi {{first_name|there}}, order {{order}} is ready. {{first_name|there}}, see you!",
        status="approved",
    )
    return shop


def callback(shop, payload):
    raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return Client().post(
        f"/hooks/{shop.connector.pk}/status/", raw, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
    )


def change(value):
    metadata = {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID}
    value = {"messaging_product": "whatsapp", "metadata": metadata, **value}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def test_template_goes_out_with_parameters_and_comes_back_read(wa, fake, daytime, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = wa.create(
            channel="whatsapp",
            template="order_ready",
            text=None,
            recipient_variables=[
                {"phone": UG1, "first_name": "Amina", "order": "A-17"},
                {"phone": UG2, "order": "B-2"},
            ],
        )
    assert response.status_code == 201, response.content
    sent = {r.body["to"]: r.body["template"] for r in fake.requests}
    assert sent == {
        UG1[1:]: {
            "name": "order_ready",
            "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "Amina"}, {"type": "text", "text": "A-17"}]}],
        },
        UG2[1:]: {
            "name": "order_ready",
            "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "there"}, {"type": "text", "text": "B-2"}]}],
        },
    }  # fmt: skip
    messages = {m.urn: m for m in Message.objects.filter(broadcast_id=response.json()["id"])}
    wamid = messages[f"whatsapp:{UG1}"].provider_message_id
    statuses = [
        {"id": wamid, "status": "sent", "timestamp": "1700000000", "recipient_id": UG1[1:]},
        {"id": wamid, "status": "delivered", "timestamp": "1700000001", "recipient_id": UG1[1:]},
        {"id": wamid, "status": "read", "timestamp": "1700000002", "recipient_id": UG1[1:]},
    ]
    answer = callback(wa, change({"statuses": statuses}))
    assert answer.status_code == 200, answer.content
    assert Message.objects.get(provider_message_id=wamid).status == "read"
    assert messages[f"whatsapp:{UG2}"].status == "sent"


def test_forged_callback_is_refused(wa):
    raw = json.dumps(change({"statuses": []})).encode()
    answer = Client().post(
        f"/hooks/{wa.connector.pk}/status/", raw, content_type="application/json", HTTP_X_HUB_SIGNATURE_256="sha256=00"
    )
    assert answer.status_code == 403


def test_verification_handshake(wa):
    url = f"/hooks/{wa.connector.pk}/inbound/"
    ok = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    bad = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403


def test_inbound_reply_is_stored(wa, fake, daytime, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = wa.create(channel="whatsapp", template="order_ready", text=None, recipients=[UG1], with_replies=True)
    assert response.status_code == 201, response.content
    inbound = {
        "contacts": [{"profile": {"name": "Amina"}, "wa_id": UG1[1:]}],
        "messages": [{"from": UG1[1:], "id": "wamid.IN1", "timestamp": "1700000100", "type": "text",
                      "text": {"body": "Thank you"}}],
    }  # fmt: skip
    assert callback(wa, change(inbound)).status_code == 200
    reply = Reply.objects.get()
    assert (reply.urn, reply.text, str(reply.broadcast_id)) == (f"whatsapp:{UG1}", "Thank you", response.json()["id"])
