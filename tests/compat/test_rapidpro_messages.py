"""SPEC §14, RapidPro v2 `messages.json` (COMPAT.md §2.3–2.4): outgoing messages and replies in
RapidPro's shape, its filters and error strings, one keyset over both tables, and a message sent
as a one-recipient transactional broadcast."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, Message, Reply
from compat.rapidpro.messages import message_pk, message_uuid
from tests.broadcasts.conftest import KE, UG, assert_counters_exact
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory
from tests.wallets.conftest import assert_ledger_consistent

URL = "/api/v2/messages.json"
ONE_OF = "You may only specify one of the contact, folder, label, broadcast parameters"
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}


@pytest.fixture(autouse=True)
def _money_and_counters_exact(request):
    yield
    if "db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        assert_ledger_consistent()
        assert_counters_exact()


@pytest.fixture
def rp(shop, make_rapidpro):
    return make_rapidpro(client=shop.client)


def results(api, **params):
    response = api.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def uuids(api, **params):
    return [m["uuid"] for m in results(api, **params)]


def send(shop, *recipients, **body):
    response = shop.create(recipients=list(recipients), **body)
    assert response.status_code == 201, response.content
    return shop.broadcast(response)


def reply(shop, text="Thanks", contact=None, at=None, **fields):
    return Reply.objects.create(
        client=shop.client,
        contact=contact,
        urn=f"tel:{contact.phone}" if contact else f"tel:{UG}",
        channel="sms",
        text=text,
        connector=shop.connector,
        received_at=at or timezone.now(),
        **fields,
    )


def test_message_uuids_are_reversible_uuid8():
    assert message_uuid(123) == "00000000-0000-8000-8000-00000000007b"
    import uuid

    value = uuid.UUID(message_uuid(123))
    assert (value.version, value.variant) == (8, uuid.RFC_4122)
    assert message_pk(value) == 123
    assert message_pk(uuid.uuid4()) is None


# --- the objects ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_outgoing_message_and_a_reply_in_rapidpros_shape(shop, rp, daytime):
    joe = ContactFactory(client=shop.client, phone=UG, first_name="Joe", last_name="Blow")
    broadcast = send(shop, UG, text="Hello {{first_name}}", attachments=None)
    message = Message.objects.get()
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        status="delivered", connector="simulator", sent_at=now, delivered_at=now + timedelta(seconds=1)
    )
    message.refresh_from_db()
    daytime.shift(timedelta(minutes=1))
    answer = reply(shop, contact=joe, broadcast=broadcast)
    outgoing, incoming = reversed(results(rp))
    assert outgoing == {
        "uuid": message_uuid(message.pk),
        "id": message.pk,
        "broadcast": None,
        "contact": {"uuid": str(joe.pk), "name": "Joe Blow"},
        "urn": f"tel:{UG}",
        "channel": {"uuid": str(shop.connector.pk), "name": "simulator"},
        "direction": "out",
        "type": "text",
        "status": "delivered",
        "archived": False,
        "visibility": "visible",
        "text": "Hello Joe",
        "labels": [],
        "flow": None,
        "attachments": [],
        "quick_replies": [],
        "media": None,
        "created_on": message.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "sent_on": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "modified_on": (now + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "herald": {
            "broadcast": str(broadcast.pk),
            "status": "delivered",
            "segments": message.segments,
            "cost": outgoing["herald"]["cost"],
            "error_code": "",
        },
    }
    assert incoming == {
        "uuid": str(answer.pk),
        "id": None,
        "broadcast": None,
        "contact": {"uuid": str(joe.pk), "name": "Joe Blow"},
        "urn": f"tel:{UG}",
        "channel": {"uuid": str(shop.connector.pk), "name": "simulator"},
        "direction": "in",
        "type": "text",
        "status": "handled",
        "archived": False,
        "visibility": "visible",
        "text": "Thanks",
        "labels": [],
        "flow": None,
        "attachments": [],
        "quick_replies": [],
        "media": None,
        "created_on": answer.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "sent_on": None,
        "modified_on": answer.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "herald": {"broadcast": str(broadcast.pk), "keyword": ""},
    }


@pytest.mark.django_db
def test_attachments_read_as_objects_and_whatsapp_urns_as_digits(shop, rp, daytime):
    response = shop.create(channel="telegram", text="Hi", recipients=["telegram:123"],
                           attachments=["https://x.example/cat.jpg"])  # fmt: skip
    assert response.status_code == 201, response.content
    Message.objects.filter(broadcast=shop.broadcast(response)).update(urn=f"whatsapp:{UG}")
    (body,) = results(rp)
    assert body["attachments"] == [{"content_type": "image/jpeg", "url": "https://x.example/cat.jpg"}]
    assert body["urn"] == f"whatsapp:{UG[1:]}"
    Message.objects.update(connector="")
    assert results(rp)[0]["channel"] is None  # no connector chosen


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "attempts", "expected"),
    [
        ("pending", 0, "queued"),
        ("queued", 0, "queued"),
        ("sending", 0, "queued"),
        ("queued", 2, "errored"),
        ("sent", 1, "wired"),
        ("delivered", 1, "delivered"),
        ("read", 1, "read"),
        ("failed", 1, "failed"),
        ("skipped", 0, "failed"),
        ("cancelled", 0, "failed"),
    ],
)
def test_statuses_are_mapped(shop, rp, daytime, status, attempts, expected):
    send(shop, UG)
    Message.objects.update(status=status, attempts=attempts, error_code="x" if status == "failed" else "")
    (body,) = results(rp)
    assert (body["status"], body["herald"]["status"]) == (expected, status)


# --- filters --------------------------------------------------------------------------------------


@pytest.fixture
def mailbox(shop, daytime):
    """Four outgoing messages (queued, sent, failed, a test send) and a reply, a minute apart."""
    contact = ContactFactory(client=shop.client, phone=KE)
    broadcast = send(shop, UG, KE, "+256772000002")
    queued, sent, failed = Message.objects.order_by("pk")
    Message.objects.filter(pk=sent.pk).update(status="sent", sent_at=timezone.now())
    Message.objects.filter(pk=failed.pk).update(status="failed")
    Message.objects.create(broadcast=broadcast, client=shop.client, urn=f"tel:{UG}", channel="sms", is_test=True)
    daytime.shift(timedelta(minutes=1))
    answer = reply(shop, contact=contact)
    return {"queued": queued, "sent": sent, "failed": failed, "reply": answer, "broadcast": broadcast,
            "contact": contact}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        (None, ["reply", "failed", "sent", "queued"]),
        ("inbox", ["reply"]),
        ("INBOX", ["reply"]),
        ("outbox", ["queued"]),
        ("sent", ["sent"]),
        ("failed", ["failed"]),
        ("flows", []),
        ("archived", []),
        ("spam", []),
    ],
)
def test_folders(mailbox, rp, folder, expected):
    names = {message_uuid(m.pk) if isinstance(m, Message) else str(m.pk): n for n, m in mailbox.items()
             if isinstance(m, Message | Reply)}  # fmt: skip
    assert [names[u] for u in uuids(rp, **({"folder": folder} if folder else {}))] == expected


@pytest.mark.django_db
def test_the_sent_folder_is_ordered_by_sent_on(shop, rp, daytime):
    send(shop, UG, KE)
    first, second = Message.objects.order_by("pk")
    now = timezone.now()
    Message.objects.filter(pk=first.pk).update(status="delivered", sent_at=now + timedelta(minutes=5))
    Message.objects.filter(pk=second.pk).update(status="sent", sent_at=now)
    assert uuids(rp, folder="sent") == [message_uuid(first.pk), message_uuid(second.pk)]


@pytest.mark.django_db
def test_uuid_id_contact_label_broadcast_before_after(mailbox, rp, shop):
    sent, answer = mailbox["sent"], mailbox["reply"]
    assert uuids(rp, uuid=message_uuid(sent.pk)) == [message_uuid(sent.pk)]
    assert uuids(rp, uuid=str(answer.pk)) == [str(answer.pk)]
    assert uuids(rp, uuid="00000000-0000-8000-8000-0000000f4240") == []
    assert uuids(rp, id=str(sent.pk)) == [message_uuid(sent.pk)]
    assert uuids(rp, contact=str(mailbox["contact"].pk)) == [str(answer.pk), message_uuid(sent.pk)]
    assert uuids(rp, contact="not-a-uuid") == []
    assert uuids(rp, label="Important") == []
    assert len(uuids(rp, broadcast=str(mailbox["broadcast"].pk))) == 3
    assert uuids(rp, broadcast=str(Broadcast.objects.exclude(pk=mailbox["broadcast"].pk).first() or answer.pk)) == []
    middle = (answer.created_at - timedelta(seconds=30)).isoformat()
    assert uuids(rp, after=middle) == [str(answer.pk)]
    assert len(uuids(rp, before=middle)) == 3
    assert uuids(rp, after="soon") == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"folder": "inbox", "contact": "x"}, ONE_OF),
        ({"label": "a", "broadcast": "b"}, ONE_OF),
        ({"id": "xyz"}, "Value for id must be an integer"),
        ({"uuid": "xyz"}, "Param 'uuid': xyz is not a valid UUID."),
        ({"broadcast": "xyz"}, "Param 'broadcast': xyz is not a valid UUID."),
    ],
)  # fmt: skip
def test_bad_queries_are_rapidpros_400s(rp, params, detail):
    response = rp.get(URL, params)
    assert (response.status_code, response.json()) == (400, {"detail": detail})


@pytest.mark.django_db
def test_another_clients_messages_are_invisible(mailbox, rp, make_shop, make_rapidpro):
    other = make_rapidpro(client=ClientFactory())
    assert results(other) == []
    assert results(other, uuid=message_uuid(mailbox["sent"].pk)) == []
    assert results(other, uuid=str(mailbox["reply"].pk)) == []


@pytest.mark.django_db
def test_reading_needs_the_read_scope(make_rapidpro):
    assert make_rapidpro(scopes=["send_sms"]).get(URL).status_code == 403


# --- pagination -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_merge_both_tables_each_row_once_in_order(shop, rp, daytime, make_temba):
    phones = [f"+2567720{n:05d}" for n in range(300)]
    send(shop, *phones)  # 300 messages sharing one created_at
    created = Message.objects.first().created_at
    replies = [reply(shop, text=f"r{n}") for n in range(5)]
    Reply.objects.filter(pk__in=[r.pk for r in replies[:3]]).update(created_at=created)  # ties across tables
    daytime.shift(timedelta(minutes=1))
    later = send(shop, "+256772999999")

    first = rp.get(URL, {"after": (created - timedelta(hours=1)).isoformat()}).json()
    assert len(first["results"]) == 250
    assert first["next"].startswith("http://testserver/api/v2/messages.json?")
    assert "after=" in first["next"]
    assert "cursor=" in first["next"]
    assert first["previous"] is None
    daytime.shift(timedelta(minutes=1))
    send(shop, "+256772999998")  # arrives while paging: newer than the cursor, not on later pages
    second = rp.get(first["next"]).json()
    assert second["next"] is None
    seen = [m["uuid"] for m in first["results"] + second["results"]]
    assert len(seen) == len(set(seen)) == 300 + 5 + 1
    expected_tail = [str(r.pk) for r in sorted(replies[:3], key=lambda r: r.pk, reverse=True)] + [
        message_uuid(pk)
        for pk in Message.objects.filter(created_at=created).order_by("-pk").values_list("pk", flat=True)
    ]
    assert seen[0] == message_uuid(Message.objects.get(broadcast=later).pk)
    assert seen[-303:] == expected_tail
    # the real client walks the same pages
    assert len(make_temba(rp).get_messages(after=created - timedelta(hours=1)).all()) == 300 + 5 + 2


@pytest.mark.django_db
def test_a_forged_cursor_is_not_found(rp):
    for cursor in ("nope", "W10", "WyIyMDI2LTAxLTAxIiwxLCIxIl0"):
        response = rp.get(URL, {"cursor": cursor})
        assert response.status_code == 404, cursor


# --- the create -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_sends_one_transactional_message_with_replies(shop, rp, daytime, make_temba):
    joe = ContactFactory(client=shop.client, phone=UG, first_name="Joe")
    response = rp.post(URL, {"contact": str(joe.pk), "text": "Hi @contact.first_name", "attachments": [],
                             "quick_replies": []}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    message = Message.objects.get()
    assert (body["uuid"], body["id"], body["direction"], body["status"]) == (
        message_uuid(message.pk), message.pk, "out", "queued"
    )  # fmt: skip
    assert body["channel"] == {"uuid": str(shop.connector.pk), "name": "simulator"}  # the route's, chosen on create
    assert (body["text"], body["contact"]) == ("Hi Joe", {"uuid": str(joe.pk), "name": joe.name})
    broadcast = message.broadcast
    assert (broadcast.purpose, broadcast.with_replies, broadcast.channel) == ("transactional", True, "sms")
    native = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
    assert native["name"] == "RapidPro API: Hi @contact.first_name"
    assert results(rp, uuid=body["uuid"]) == [body]
    created = make_temba(rp).create_message(str(joe.pk), "Again", [])
    assert (created.direction, created.text, created.contact.uuid) == ("out", "Again", str(joe.pk))


@pytest.mark.django_db
def test_create_by_urn_and_on_telegram(shop, rp, daytime):
    ContactFactory(client=shop.client, phone=UG)
    chat = ContactFactory(client=shop.client, phone=None, telegram_chat_id="4242")
    assert rp.post(URL, {"contact": f"tel:{UG}", "text": "Hi"}, format="json").status_code == 201
    response = rp.post(URL, {"contact": str(chat.pk), "text": "Hi"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["urn"], Broadcast.objects.get(channel="telegram").channel) == ("telegram:4242", "telegram")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"text": "Hi"}, {"contact": ["This field is required."]}),
        ({"contact": "", "text": "Hi"}, {"contact": ["This field is required."]}),
        ({"contact": "tel:+256772999999", "text": "Hi"}, {"contact": ["No such object: tel:+256772999999"]}),
        ({"contact": "CONTACT", "text": ""}, {"non_field_errors": ["Must provide either text or attachments."]}),
        ({"contact": "CONTACT", "text": "Hi", "attachments": ["https://x.example/a.jpg"] * 11},
         {"attachments": ["Ensure this field has no more than 10 elements."]}),
        ({"contact": "CONTACT", "text": "x" * 4097}, {"text": ["Ensure this field has no more than 4096 characters."]}),
        ({"contact": "CONTACT", "text": "@(now())"}, {"text": ["Expressions @(...) are not supported by Herald."]}),
        ({"contact": "CONTACT", "text": "x" * 1225},
         {"text": {"eng": ["Ensure this field has no more than 1224 characters."]}}),
        ({"contact": "CONTACT", "text": "Hi", "attachments": ["https://x.example/a.jpg"]},
         {"attachments": ["SMS cannot carry attachments."]}),
    ],
)  # fmt: skip
def test_create_refusals_in_rapidpros_words(shop, rp, body, errors):
    contact = ContactFactory(client=shop.client, phone=UG)
    if body.get("contact") == "CONTACT":
        body = {**body, "contact": str(contact.pk)}
    response = rp.post(URL, body, format="json")
    assert (response.status_code, response.json()) == (400, errors)
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_an_opted_out_contact_is_refused_with_the_reason(shop, rp, daytime):
    contact = ContactFactory(client=shop.client, phone=UG, opted_out=True, opted_out_at=timezone.now())
    response = rp.post(URL, {"contact": str(contact.pk), "text": "Hi"}, format="json")
    assert response.status_code == 400
    assert response.json()["non_field_errors"][0].startswith("None of the recipients can be sent to")


@pytest.mark.django_db
def test_a_whatsapp_reply_inside_the_window_is_sent_as_free_text(shop, rp, daytime):
    """SPEC §14: answering a contact who wrote on WhatsApp lately, RapidPro's everyday use."""
    contact = ContactFactory(client=shop.client, phone=UG, first_name="Joe")
    Reply.objects.create(client=shop.client, contact=contact, urn=f"whatsapp:{UG}", channel="whatsapp", text="Help",
                         connector=shop.connector, received_at=timezone.now() - timedelta(hours=2))  # fmt: skip
    response = rp.post(URL, {"contact": f"whatsapp:{UG[1:]}", "text": "Hi @contact.first_name"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["urn"], body["text"], body["status"]) == (f"whatsapp:{UG[1:]}", "Hi Joe", "queued")
    assert Broadcast.objects.get().channel == "whatsapp"


@pytest.mark.django_db
def test_a_whatsapp_message_outside_the_window_is_refused_with_the_reason(shop, rp, daytime):
    contact = ContactFactory(client=shop.client, phone=UG)
    reply(shop, contact=contact, at=timezone.now() - timedelta(hours=1))  # an SMS reply opens no WhatsApp window
    response = rp.post(URL, {"contact": f"whatsapp:{UG[1:]}", "text": "Hi"}, format="json")
    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert message.startswith("None of the recipients can be sent to: WhatsApp free text goes only to numbers")
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_create_needs_the_send_scope_of_the_contacts_channel(shop, make_rapidpro, daytime):
    phone = ContactFactory(client=shop.client, phone=UG)
    chat = ContactFactory(client=shop.client, phone=None, telegram_chat_id="4242")
    sms_only = make_rapidpro(client=shop.client, scopes=["send_sms"])
    assert sms_only.post(URL, {"contact": str(phone.pk), "text": "Hi"}, format="json").status_code == 201
    refused = sms_only.post(URL, {"contact": str(chat.pk), "text": "Hi"}, format="json")
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "You do not have permission to perform this action."},
    )
    reader = make_rapidpro(client=shop.client, scopes=["read"])
    assert reader.post(URL, {"contact": str(phone.pk), "text": "Hi"}, format="json").status_code == 403


@pytest.mark.django_db
def test_create_counts_against_the_compat_send_limit_and_replays(shop, rp, settings, redis_url, daytime):
    settings.COMPAT_SEND_RATE_LIMIT = "2/h"
    contact = ContactFactory(client=shop.client, phone=UG)
    body = {"contact": str(contact.pk), "text": "Hi"}
    first = rp.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    again = rp.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="m-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    assert rp.post(URL, body, format="json").status_code == 201  # the replay did not count
    assert rp.post(URL, body, format="json").status_code == 429
    assert rp.get(URL).status_code == 200
