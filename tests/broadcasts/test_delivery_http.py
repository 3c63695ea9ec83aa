"""A broadcast through the `http` backend to a fake provider on real HTTP, back through its hooks.

Create → dispatch POSTs each message to the fake → the fake's report, sent to /hooks/<id>/status/
with the bearer token, delivers or fails (refunded) them → a reply to /hooks/<id>/inbound/ is
stored, linked to the broadcast (with_replies) and its STOP opts the contact out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.test import Client

from broadcasts.connectors import http as http_engine
from broadcasts.models import Message, Reply
from contacts.models import Contact
from tests.broadcasts.conftest import KE, UG
from tests.factories.contacts import ContactFactory
from tests.fakes.generic_http import FakeHttpProvider, running_fake
from wallets.selectors import reservation_state

pytestmark = pytest.mark.django_db

TOKEN = "hook-token-0123456789abcdef"


@pytest.fixture
def fake() -> Iterator[FakeHttpProvider]:
    yield from running_fake()
    http_engine.close_clients()


@pytest.fixture
def gateway(make_shop, fake):
    return make_shop(backend="http", config={"url": fake.url, "token": TOKEN})


def hook(shop, kind: str, body, token: str = TOKEN):
    """The provider calling back: no API key, its own bearer token."""
    return Client().post(
        f"/hooks/{shop.connector.pk}/{kind}/",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def send(shop, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = shop.create(text="Hello {{first_name|there}}", sender="Herald", **body)
    assert response.status_code == 201, response.content
    return shop.broadcast(response)


def test_goes_out_over_http_and_comes_back_delivered(gateway, fake, daytime, django_capture_on_commit_callbacks):
    broadcast = send(gateway, django_capture_on_commit_callbacks, recipients=[UG, KE])
    assert sorted(r.body["to"] for r in fake.requests) == sorted([UG, KE])
    status_url = fake.requests[0].body["status_url"]
    assert status_url == f"http://localhost:8000/hooks/{gateway.connector.pk}/status/"
    by_to = {r.body["to"]: r.body["id"] for r in fake.requests}
    assert Message.objects.filter(broadcast=broadcast, status="sent").count() == 2

    reports = [
        {"id": f"prov-{by_to[UG]}", "status": "delivered"},
        {"id": f"prov-{by_to[KE]}", "status": "failed", "error_code": "absent_subscriber"},
        {"id": "prov-unknown", "status": "delivered"},
    ]
    answer = hook(gateway, "status", reports)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"ok": True, "applied": 2, "unknown": 1, "replies": 0}
    statuses = dict(Message.objects.filter(broadcast=broadcast).values_list("urn", "status"))
    assert statuses == {f"tel:{UG}": "delivered", f"tel:{KE}": "failed"}
    failed = Message.objects.get(broadcast=broadcast, urn=f"tel:{KE}")
    assert failed.error_code == "absent_subscriber"
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state.outstanding == 0
    assert gateway.refresh().reserved == 0
    # A late "delivered" for the failed one never moves it back.
    hook(gateway, "status", {"id": f"prov-{by_to[KE]}", "status": "delivered"})
    assert Message.objects.get(pk=failed.pk).status == "failed"


def test_hooks_refuse_a_wrong_token_and_apply_nothing(gateway, fake, daytime, django_capture_on_commit_callbacks):
    send(gateway, django_capture_on_commit_callbacks, recipients=[UG])
    pid = f"prov-{fake.requests[0].body['id']}"
    answer = hook(gateway, "status", {"id": pid, "status": "delivered"}, token="wrong")
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"
    assert Message.objects.get(provider_message_id=pid).status == "sent"


def test_unknown_connector_and_kind_answer_404(gateway):
    import uuid

    assert gateway.api.post(f"/hooks/{uuid.uuid4()}/status/", {}, format="json").status_code == 404
    assert gateway.api.post(f"/hooks/{gateway.connector.pk}/other/", {}, format="json").status_code == 404


def test_reply_is_linked_to_the_broadcast_and_stop_opts_out(gateway, fake, daytime, django_capture_on_commit_callbacks):
    contact = ContactFactory(client=gateway.client, phone=UG)
    broadcast = send(gateway, django_capture_on_commit_callbacks, recipients=[UG], with_replies=True)
    answer = hook(gateway, "inbound", {"id": "in-1", "from": UG, "to": "Herald", "text": "Thanks!"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["replies"] == 1
    reply = Reply.objects.get()
    assert (reply.client_id, reply.contact_id, reply.broadcast_id, reply.text) == (
        gateway.client.pk,
        contact.pk,
        broadcast.pk,
        "Thanks!",
    )
    # The provider retries the same callback: stored once.
    assert (
        hook(gateway, "inbound", {"id": "in-1", "from": UG, "to": "Herald", "text": "Thanks!"}).json()["replies"] == 0
    )
    hook(gateway, "inbound", {"id": "in-2", "from": UG, "to": "Herald", "text": " stop "})
    contact.refresh_from_db()
    assert (contact.opted_out, contact.opted_out_source) == (True, "keyword")
    listed = gateway.api.get(f"/api/v1/replies/?broadcast={broadcast.pk}").json()["results"]
    assert [(r["text"], r["keyword"], r["connector"]) for r in listed] == [
        (" stop ", "opt_out", "simulator"),
        ("Thanks!", "", "simulator"),
    ]


def test_replies_of_another_client_are_not_found(gateway, make_shop, fake, daytime, django_capture_on_commit_callbacks):
    send(gateway, django_capture_on_commit_callbacks, recipients=[UG])
    hook(gateway, "inbound", {"id": "in-9", "from": UG, "to": "Herald", "text": "Hi"})
    reply = Reply.objects.get()
    other = make_shop()
    assert other.api.get(f"/api/v1/replies/{reply.pk}/").status_code == 404
    assert other.api.get("/api/v1/replies/").json()["results"] == []
    assert gateway.api.get(f"/api/v1/replies/{reply.pk}/").status_code == 200


def test_reply_without_with_replies_is_stored_but_not_linked(
    gateway, fake, daytime, django_capture_on_commit_callbacks
):
    send(gateway, django_capture_on_commit_callbacks, recipients=[UG])
    hook(gateway, "inbound", {"id": "in-3", "from": UG, "to": "Herald", "text": "Who is this?"})
    reply = Reply.objects.get()
    assert (reply.broadcast_id, reply.client_id) == (None, gateway.client.pk)


def test_inbound_from_a_stranger_is_acknowledged_and_not_stored(gateway):
    answer = hook(gateway, "inbound", {"id": "in-4", "from": "+256772999999", "to": "Herald", "text": "Hello?"})
    assert answer.status_code == 200
    assert Reply.objects.count() == 0


def test_permanent_error_fails_and_releases(gateway, fake, daytime, django_capture_on_commit_callbacks):
    fake.answer_always(status=400, body={"error": "bad number"})
    broadcast = send(gateway, django_capture_on_commit_callbacks, recipients=[UG])
    message = Message.objects.get(broadcast=broadcast)
    assert (message.status, message.error_code) == ("failed", "http_400")
    assert gateway.refresh().reserved == 0
    assert gateway.refresh().balance == Decimal("100")
    assert Contact.objects.filter(client=gateway.client, opted_out=True).count() == 0
