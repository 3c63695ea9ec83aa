"""Opt-out and opt-in keywords of replies apply once, in the order the contact sent them (SPEC §10
"Delivery reports and replies", issue 19 item 9): a provider's retry of an inbound message (same
provider id) changes nothing, also when two deliveries of it arrive at the same moment, and a
keyword older (by the provider's timestamp) than the contact's last opt-out or opt-in never
overrides it. Driven through the connectors' own inbound hooks: WhatsApp Cloud stamps each message
with the time the contact sent it; the generic `http` backend gives no time, so there only the
provider id can tell a retry."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from broadcasts.models import Connector, Reply
from contacts.models import Contact
from contacts.services import contact_opt_in
from tests.factories.broadcasts import ConnectorFactory
from tests.factories.contacts import ContactFactory
from webhooks.events import CONTACT_OPTED_OUT
from webhooks.models import WebhookEvent
from webhooks.services import webhook_endpoint_create

UG = "+256772000111"
APP_SECRET, PHONE_ID = "app-secret-123", "106540352242922"
HTTP_TOKEN = "hook-token-0123456789abcdef"
T0 = int(datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp())  # the contact's phone clock, in seconds

Deliver = Callable[..., Any]


def _whatsapp(connector: Connector) -> Deliver:
    def deliver(provider_id: str, text: str, sent_at: int) -> Any:
        message = {"from": UG[1:], "id": provider_id, "timestamp": str(sent_at), "type": "text", "text": {"body": text}}
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Amina"}, "wa_id": UG[1:]}],
            "messages": [message],
        }
        entry = {"id": "1", "changes": [{"field": "messages", "value": value}]}
        body = json.dumps({"object": "whatsapp_business_account", "entry": [entry]})
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        return Client().post(
            f"/hooks/{connector.pk}/inbound/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature,
        )

    return deliver


def _http(connector: Connector) -> Deliver:
    def deliver(provider_id: str, text: str, sent_at: int | None = None) -> Any:  # no time on this wire
        return Client().post(
            f"/hooks/{connector.pk}/inbound/",
            json.dumps({"id": provider_id, "from": UG, "to": "Herald", "text": text}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {HTTP_TOKEN}",
        )

    return deliver


BACKENDS: dict[str, tuple[str, dict[str, Any], Callable[[Connector], Deliver]]] = {
    "whatsapp_cloud": (
        "whatsapp",
        {
            "phone_number_id": PHONE_ID,
            "access_token": "EAAG-access-token",
            "app_secret": APP_SECRET,
            "verify_token": "verify-me",
            "base_url": "http://127.0.0.1:9",
        },
        _whatsapp,
    ),
    "http": ("sms", {"url": "http://127.0.0.1:9/send", "token": HTTP_TOKEN}, _http),
}


def _inbox(tenant: Any, backend: str) -> tuple[Contact, Deliver]:
    """A contact of `tenant` and a way to deliver its messages through `backend`'s inbound hook
    (the connector belongs to the tenant, so a sender it never messaged is still attributed)."""
    channel, config, door = BACKENDS[backend]
    connector = ConnectorFactory(name=f"in-{backend}", channel=channel, backend=backend, config=config, client=tenant)
    return ContactFactory(client=tenant, phone=UG), door(connector)


def _opted_out(contact: Contact) -> bool:
    contact.refresh_from_db()
    return contact.opted_out


@pytest.fixture
def opt_out_events(tenant: Any, settings: Any) -> Callable[[], int]:
    """How many `contact.opted_out` events were recorded for the tenant (an endpoint wants them)."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=tenant, url="http://127.0.0.1:9/hooks", events=[CONTACT_OPTED_OUT])
    return lambda: WebhookEvent.objects.filter(client=tenant, type=CONTACT_OPTED_OUT).count()


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["whatsapp_cloud", "http"])
def test_a_retried_start_does_not_undo_a_later_stop(tenant, backend, opt_out_events):
    contact, deliver = _inbox(tenant, backend)
    for provider_id, text, sent_at in [("in-1", "STOP", T0), ("in-2", "START", T0 + 60), ("in-3", "STOP", T0 + 120)]:
        assert deliver(provider_id, text, sent_at).status_code == 200
    assert _opted_out(contact) is True

    retried = deliver("in-2", "START", T0 + 60)  # the provider never saw our 200 for in-2 and sends it again

    assert retried.status_code == 200
    assert _opted_out(contact) is True
    assert Reply.objects.filter(provider_message_id="in-2").count() == 1
    assert opt_out_events() == 2  # in-1 and in-3; the retry announced nothing


@pytest.mark.django_db
def test_a_start_sent_before_the_last_stop_but_arriving_after_it_is_ignored(tenant, opt_out_events):
    contact, deliver = _inbox(tenant, "whatsapp_cloud")
    assert deliver("in-1", "STOP", T0 + 120).status_code == 200
    assert _opted_out(contact) is True

    late = deliver("in-0", "START", T0 + 60)  # sent a minute before the STOP, delivered after it

    assert late.status_code == 200
    assert _opted_out(contact) is True
    reply = Reply.objects.get(provider_message_id="in-0")  # still stored: a reply like any other
    assert (reply.text, reply.keyword) == ("START", "opt_in")
    contact.refresh_from_db()
    stop_sent_at = datetime.fromtimestamp(T0 + 120, UTC)
    assert (contact.opted_out_source, contact.opted_out_at, contact.opt_out_requested_at) == (
        "keyword",
        stop_sent_at,
        stop_sent_at,
    )
    assert opt_out_events() == 1


@pytest.mark.django_db
def test_a_keyword_in_the_same_second_as_the_last_change_applies_in_arrival_order(tenant):
    """WhatsApp's clock has one-second steps: a STOP and a START sent within one second are in the
    order they arrive, not ignored."""
    contact, deliver = _inbox(tenant, "whatsapp_cloud")
    deliver("in-1", "STOP", T0)
    deliver("in-2", "START", T0)
    assert _opted_out(contact) is False


@pytest.mark.django_db
def test_a_newer_keyword_still_overrides(tenant):
    contact, deliver = _inbox(tenant, "whatsapp_cloud")
    deliver("in-1", "STOP", T0)
    deliver("in-2", "START", T0 + 60)
    assert _opted_out(contact) is False
    deliver("in-3", "yes", T0 + 30)  # older than in-2 but the same state: changes nothing either way
    deliver("in-4", "stop", T0 + 90)
    assert _opted_out(contact) is True


@pytest.mark.django_db
def test_a_stop_repeated_later_protects_against_an_older_start(tenant):
    """The reference is the newest keyword for the current state, not only the one that changed it:
    STOP at :00, STOP again at :05 (no change), then a START sent at :03 arriving last stays ignored."""
    contact, deliver = _inbox(tenant, "whatsapp_cloud")
    deliver("in-1", "STOP", T0)
    deliver("in-2", "STOP", T0 + 300)
    deliver("in-3", "START", T0 + 180)
    assert _opted_out(contact) is True


@pytest.mark.django_db
def test_an_opt_in_by_the_api_is_not_undone_by_an_older_stop(tenant):
    contact, deliver = _inbox(tenant, "whatsapp_cloud")
    deliver("in-1", "STOP", T0)
    contact_opt_in(contact=contact)  # now: long after T0
    deliver("in-0", "STOP", T0 - 60)  # sent before the first STOP, arriving after the opt-in
    assert _opted_out(contact) is False
    deliver("in-2", "STOP", int(datetime.now(UTC).timestamp()) + 1)
    assert _opted_out(contact) is True


def _twice_at_once(deliver: Deliver, *args: Any) -> list[int]:
    """The same callback delivered by two threads released together (each its own connection)."""
    start = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            statuses.append(deliver(*args).status_code)
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return statuses


@pytest.mark.django_db(transaction=True)
def test_a_stop_delivered_twice_at_once_records_one_reply_and_one_opt_out(tenant, opt_out_events):
    contact, deliver = _inbox(tenant, "http")  # no provider time: only the provider id tells a retry

    assert _twice_at_once(deliver, "in-1", "STOP") == [200, 200]
    assert Reply.objects.filter(provider_message_id="in-1").count() == 1
    assert _opted_out(contact) is True
    assert opt_out_events() == 1

    assert deliver("in-2", "START").status_code == 200
    assert _opted_out(contact) is False

    # The provider retries in-1 twice more, both at once, after the START: neither opts out again.
    assert _twice_at_once(deliver, "in-1", "STOP") == [200, 200]
    assert Reply.objects.filter(provider_message_id="in-1").count() == 1
    assert _opted_out(contact) is False
    assert opt_out_events() == 1
