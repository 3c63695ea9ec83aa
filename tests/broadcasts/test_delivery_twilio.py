"""Twilio end to end: a broadcast goes out to the fake Messages API, its status callback (signed by
twilio's own RequestValidator, the oracle) delivers it, a forged one is refused, a reply is answered
with empty TwiML, and error 21610 opts the recipient out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from broadcasts.connectors import http as http_engine
from broadcasts.models import Message, Reply
from contacts.models import Contact
from tests.broadcasts.conftest import UG
from tests.factories.contacts import ContactFactory
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, Answer, FakeTwilio, running_fake_twilio

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with running_fake_twilio() as running:
        yield running
    http_engine.close_clients()


@pytest.fixture
def tw(make_shop, fake):
    return make_shop(
        backend="twilio", config={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "base_url": fake.base_url}
    )


def signed_post(shop, kind: str, params: dict[str, str], token: str = AUTH_TOKEN):
    path = f"/hooks/{shop.connector.pk}/{kind}/"
    signature = RequestValidator(token).compute_signature(f"http://localhost:8000{path}", params)
    return Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_goes_out_and_its_signed_report_delivers_it(tw, fake, daytime, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = tw.create(recipients=[UG], text="Hello", sender="Herald")
    assert response.status_code == 201, response.content
    (request,) = fake.requests
    assert (request.form["To"], request.form["From"], request.form["Body"]) == ([UG], ["Herald"], ["Hello"])
    status_callback = request.form["StatusCallback"][0]
    assert status_callback == f"http://localhost:8000/hooks/{tw.connector.pk}/status/"
    message = Message.objects.get(broadcast_id=response.json()["id"])
    assert message.status == "sent"

    forged = signed_post(tw, "status", {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"}, "x")
    assert forged.status_code == 403
    assert Message.objects.get(pk=message.pk).status == "sent"
    report = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert signed_post(tw, "status", report).status_code == 200
    assert Message.objects.get(pk=message.pk).status == "delivered"


def test_reply_gets_empty_twiml(tw, fake, daytime, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tw.create(recipients=[UG], text="Hello", sender="Herald", with_replies=True)
    answer = signed_post(tw, "inbound", {"MessageSid": "SMin1", "From": UG, "To": "+15005550006", "Body": "Yes"})
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in answer.content
    assert Reply.objects.get().text == "Yes"


def test_21610_fails_and_opts_the_recipient_out(tw, fake, daytime, django_capture_on_commit_callbacks):
    contact = ContactFactory(client=tw.client, phone=UG)
    fake.answer_next(
        Answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = tw.create(recipients=[UG], text="Hello", sender="Herald")
    message = Message.objects.get(broadcast_id=response.json()["id"])
    assert (message.status, message.error_code) == ("failed", "twilio_21610")
    contact = Contact.objects.get(pk=contact.pk)
    assert (contact.opted_out, contact.opted_out_source) == (True, "provider")
    assert tw.refresh().reserved == 0
