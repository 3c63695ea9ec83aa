"""Follow-ups (SPEC §8 "Campaigns"): POST /broadcasts/{id}/follow-up/ creates a new broadcast, through
the normal create, to exactly one audience of a finished broadcast's recipients."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.utils import timezone

from broadcasts.connectors import StatusUpdate
from broadcasts.dispatch import dispatch_run
from broadcasts.models import Broadcast, Message, Reply
from broadcasts.services import broadcast_follow_up
from broadcasts.status_updates import messages_apply_status
from contacts.models import Contact
from tests.broadcasts.conftest import FR
from tests.factories.contacts import ContactFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

# The original's recipients, by what became of them.
DELIVERED_CLICKED = "+256772300001"  # a contact
READ = "+256772300002"  # a contact
DELIVERED = "+256772300003"  # a contact, who replied
FAILED = "+256772300004"
UNKNOWN = "+256772300005"  # failed with delivery_unknown
SENT_REPLIED = "+256772300006"  # no report; replied
SENT_OPTED_OUT = "+256772300007"  # no report; opted out since
SENT = "+256772300008"  # no report, no click, no reply
ALREADY_OUT = "+256772300009"  # opted out before the original: skipped
TESTED = "+256772300010"  # only ever a test message (delivered, clicked, replied)


def run(broadcast: Broadcast) -> Broadcast:
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    broadcast.refresh_from_db()
    return broadcast


def message(broadcast: Broadcast, phone: str) -> Message:
    return Message.objects.get(broadcast=broadcast, urn=f"tel:{phone}", is_test=False)


def reply(shop, phone: str, broadcast: Broadcast, contact: Contact | None = None) -> Reply:
    return Reply.objects.create(
        client=shop.client, contact=contact, urn=f"tel:{phone}", channel="sms", text="Yes please",
        broadcast=broadcast, received_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def original(shop, daytime, recorder) -> Broadcast:
    """A finished broadcast with a recipient of every kind (see the constants above)."""
    contacts = [
        ContactFactory(client=shop.client, phone=phone, first_name=name)
        for phone, name in ((DELIVERED_CLICKED, "Ann"), (READ, "Bob"), (DELIVERED, "Cid"))
    ]
    ContactFactory(client=shop.client, phone=ALREADY_OUT, opted_out=True, opted_out_at=timezone.now())
    opting = ContactFactory(client=shop.client, phone=SENT_OPTED_OUT, first_name="Dee")
    response = shop.create(
        name="Sale",
        text="Hi {{first_name|there}} {{code|-}}",
        track_links=True,
        with_replies=True,
        contacts=[str(c.pk) for c in contacts],
        recipient_variables=[
            {"phone": FAILED, "code": "F1"},
            {"phone": UNKNOWN, "code": "U1"},
            {"phone": SENT_REPLIED, "code": "R1"},
            {"phone": SENT_OPTED_OUT},
            {"phone": SENT, "code": "S1"},
            {"phone": ALREADY_OUT},
        ],
    )
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    recorder.outcomes = {message(broadcast, FAILED).pk: "permanent", message(broadcast, UNKNOWN).pk: "unknown"}
    broadcast = run(broadcast)
    assert broadcast.status == "partially_sent"
    reports = [(DELIVERED_CLICKED, "delivered"), (READ, "read"), (DELIVERED, "delivered")]
    messages_apply_status(
        connector_name="recorder",
        updates=[StatusUpdate(message(broadcast, phone).provider_message_id, status) for phone, status in reports],
    )
    Message.objects.filter(pk=message(broadcast, DELIVERED_CLICKED).pk).update(clicked=True)
    reply(shop, SENT_REPLIED, broadcast)
    reply(shop, "+256772399999", broadcast, contact=contacts[2])  # the contact replied from another number
    # A test send (delivered, clicked, replied) counts for nothing.
    Message.objects.create(
        broadcast=broadcast, client=shop.client, urn=f"tel:{TESTED}", channel="sms", status="delivered",
        clicked=True, is_test=True,
    )  # fmt: skip
    reply(shop, TESTED, broadcast)
    opting.opted_out, opting.opted_out_at = True, timezone.now()
    opting.save()
    return broadcast


def follow_up(shop, broadcast: Broadcast, **body):
    payload = {"name": "Reminder", "text": "Hi {{first_name|there}} {{code|-}}, last day", **body}
    return shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/follow-up/", payload, format="json")


def recipients(broadcast_id: str) -> set[str]:
    return {
        urn.removeprefix("tel:")
        for urn in Message.objects.filter(broadcast_id=broadcast_id).values_list("urn", flat=True)
    }


@pytest.mark.parametrize(
    ("audience", "expected", "opted_out"),
    [
        ("not_clicked", {READ, DELIVERED, SENT_REPLIED, SENT}, 1),
        ("clicked", {DELIVERED_CLICKED}, 0),
        ("not_delivered", {FAILED, UNKNOWN, SENT_REPLIED, SENT}, 1),
        ("failed", {FAILED, UNKNOWN}, 0),
        ("not_replied", {DELIVERED_CLICKED, READ, SENT}, 1),
        ("replied", {DELIVERED, SENT_REPLIED}, 0),
    ],
)
def test_each_audience_is_exactly_its_recipients_and_opt_outs_since_are_skipped(
    shop, original, audience, expected, opted_out
):
    response = follow_up(shop, original, audience=audience)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["parent"], body["follow_up_audience"]) == (str(original.pk), audience)
    assert recipients(body["id"]) - {SENT_OPTED_OUT} == expected
    # The recipient who opted out since the original is planned skipped (opted_out), never sent.
    skipped = Message.objects.filter(broadcast_id=body["id"], status="skipped")
    assert set(skipped.values_list("urn", "error_code")) == (
        {(f"tel:{SENT_OPTED_OUT}", "opted_out")} if opted_out else set()
    )
    assert (body["total_recipients"], body["skipped"]["opted_out"]) == (len(expected), opted_out)
    follow = Broadcast.objects.get(pk=body["id"])
    assert (follow.parent_id, follow.follow_up_audience, follow.status) == (original.pk, audience, "queued")
    assert list(original.children.all()) == [follow]


def test_variables_and_contacts_of_the_original_render_again(shop, original):
    body = follow_up(shop, original, audience="not_delivered").json()
    texts = dict(Message.objects.filter(broadcast_id=body["id"], status="queued").values_list("urn", "text"))
    assert texts == {
        f"tel:{FAILED}": "Hi there F1, last day",
        f"tel:{UNKNOWN}": "Hi there U1, last day",
        f"tel:{SENT_REPLIED}": "Hi there R1, last day",
        f"tel:{SENT}": "Hi there S1, last day",
    }
    clicked = follow_up(shop, original, audience="not_clicked").json()
    row = Message.objects.get(broadcast_id=clicked["id"], urn=f"tel:{READ}")
    assert (row.text, row.contact.first_name) == ("Hi Bob -, last day", "Bob")


def test_simulate_quotes_the_follow_up_and_stores_nothing(shop, original):
    before = Broadcast.objects.count()
    response = follow_up(shop, original, audience="failed", simulate=True)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["simulated"], body["parent"], body["follow_up_audience"]) == (
        None, True, str(original.pk), "failed",
    )  # fmt: skip
    assert body["total_recipients"] == 2
    assert Broadcast.objects.count() == before


def test_quiet_hours_apply_to_the_follow_up(shop, recorder):
    saturday_night = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # 23:00 in Paris, then a quiet Sunday
    with time_machine.travel(datetime(2026, 11, 27, 15, 0, tzinfo=UTC), tick=False):
        original = shop.broadcast(shop.create(recipients=[FR], text="Promo STOP"))
        recorder.mode = "permanent"
        assert run(original).status == "failed"
    with time_machine.travel(saturday_night, tick=False):
        body = follow_up(shop, original, audience="failed", text="Promo again STOP").json()
    row = Message.objects.get(broadcast_id=body["id"])
    assert (row.status, row.wait_reason) == ("pending", "quiet_hours")
    assert row.not_before == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris


@pytest.mark.parametrize("status", ["draft", "scheduled", "queued", "sending", "paused"])
def test_a_broadcast_that_has_not_finished_answers_409_and_nothing_is_created(shop, original, status):
    Broadcast.objects.filter(pk=original.pk).update(status=status)
    before = Broadcast.objects.count()
    assert_error(follow_up(shop, original, audience="failed"), 409, "conflict", "broadcast_not_finished")
    assert Broadcast.objects.count() == before


def test_a_cancelled_broadcast_can_be_followed_up(shop, original):
    Broadcast.objects.filter(pk=original.pk).update(status="cancelled")
    assert follow_up(shop, original, audience="failed").status_code == 201


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"audience": "non_openers"}, "audience", "invalid_choice"),
        ({}, "audience", "required"),
        ({"audience": "failed", "recipients": ["+256772000001"]}, "recipients", "not_allowed"),
        ({"audience": "failed", "recipient_variables": [{"phone": "+256772000001"}]}, "recipient_variables", None),
        ({"audience": "failed", "contacts": []}, "contacts", None),
        ({"audience": "failed", "contact_lists": []}, "contact_lists", None),
        ({"audience": "failed", "name": ""}, "name", "required"),
        ({"audience": "failed", "schedule_mode": "weekly"}, "schedule_mode", "invalid_choice"),
        ({"audience": "failed", "schedule_mode": "recurring"}, "schedule_mode", "invalid_choice"),
    ],
)
def test_bad_bodies_answer_400_naming_the_field_and_create_nothing(shop, original, body, field, code):
    before = Broadcast.objects.count()
    response = shop.api.post(
        f"/api/v1/broadcasts/{original.pk}/follow-up/", {"name": "Reminder", "text": "Hi", **body}, format="json"
    )
    error = assert_error(response, 400, "invalid_request_error")
    assert field in error["fields"], error
    assert set(error["fields"]) == {field}
    if code is not None:
        assert error["code"] == code, error
    assert Broadcast.objects.count() == before


def test_an_empty_audience_answers_400_no_recipients(shop, original):
    Message.objects.filter(broadcast=original, is_test=False).update(clicked=False)
    error = assert_error(follow_up(shop, original, audience="clicked"), 400, "invalid_request_error")
    assert set(error["fields"]) == {"audience"}
    assert "No recipient" in error["fields"]["audience"][0]


def test_clicks_and_replies_need_the_original_to_have_collected_them(shop, daytime, recorder):
    original = run(shop.broadcast(shop.create(recipients=[DELIVERED], text="Hi")))
    for audience in ("clicked", "not_clicked", "replied", "not_replied"):
        error = assert_error(follow_up(shop, original, audience=audience), 400, "invalid_request_error")
        assert set(error["fields"]) == {"audience"}
    assert follow_up(shop, original, audience="not_delivered").status_code == 201


def test_another_tenants_broadcast_answers_404(make_shop, shop, original):
    other = make_shop()
    response = other.api.post(
        f"/api/v1/broadcasts/{original.pk}/follow-up/",
        {"audience": "failed", "name": "x", "text": "Hi"},
        format="json",
    )
    assert_error(response, 404, "not_found")


def test_the_follow_up_needs_the_send_scope_of_its_channel(make_api, shop, original):
    url = f"/api/v1/broadcasts/{original.pk}/follow-up/"
    body = {"audience": "failed", "name": "x", "text": "Hi"}
    reader = make_api(scopes=["read"], client=shop.client)
    assert_error(reader.post(url, body, format="json"), 403, "permission_error", "missing_scope")
    whatsapp_only = make_api(scopes=["send_whatsapp"], client=shop.client)
    assert_error(whatsapp_only.post(url, body, format="json"), 403, "permission_error", "missing_scope")
    sms = make_api(scopes=["send_sms"], client=shop.client)
    assert sms.post(url, body, format="json").status_code == 201


def test_idempotency_key_replays_the_follow_up(shop, original):
    payload = {"audience": "failed", "name": "Reminder", "text": "Hi"}
    url = f"/api/v1/broadcasts/{original.pk}/follow-up/"
    first = shop.api.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="fu-1")
    again = shop.api.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="fu-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert original.children.count() == 1


def test_the_service_and_the_detail_show_the_parent(shop, original):
    accepted = broadcast_follow_up(original=original, data={"audience": "failed", "name": "R", "text": "Hi"})
    detail = shop.api.get(f"/api/v1/broadcasts/{accepted.broadcast.pk}/").json()
    assert (detail["parent"], detail["follow_up_audience"]) == (str(original.pk), "failed")
    plain = shop.api.get(f"/api/v1/broadcasts/{original.pk}/").json()
    assert (plain["parent"], plain["follow_up_audience"]) == (None, None)


def test_the_schema_documents_the_follow_up(api):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/broadcasts/{id}/follow-up/"]["post"]
    assert {"201", "200", "400", "402", "404", "409"} <= set(operation["responses"])
    body = schema["components"]["schemas"]["FollowUpRequest"]
    assert "audience" in body["properties"]
    assert "recipients" not in body["properties"]
    broadcast = schema["components"]["schemas"]["Broadcast"]["properties"]
    assert {"parent", "follow_up_audience"} <= set(broadcast)
