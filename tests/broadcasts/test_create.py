"""SPEC §8 audience, content and money rules of create, each with the exact rows it must produce."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from broadcasts.models import Broadcast, Message
from contacts.models import ContactList
from tests.broadcasts.conftest import FR, KE, UG, US
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members
from tests.factories.templates_app import TemplateFactory
from tests.helpers import assert_error
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db


def rows(broadcast, **filters):
    return list(
        Message.objects.filter(broadcast=broadcast, **filters).order_by("id").values_list("urn", "status", "error_code")
    )


def test_duplicates_are_sent_once_and_counted(shop, daytime):
    response = shop.create(recipients=[UG, UG, "0772000001", "tel:+256772000001", "whatsapp:+256772000001"])
    body = response.json()
    assert response.status_code == 201
    assert body["total_recipients"] == 1
    assert body["skipped"] == {"invalid": 0, "opted_out": 0, "unroutable": 0, "duplicates": 4}
    assert rows(shop.broadcast(response)) == [("tel:+256772000001", "queued", "")]


def test_invalid_opted_out_and_unroutable_are_stored_as_skipped(shop, daytime):
    ContactFactory(client=shop.client, phone="+256772000009", opted_out=True, opted_out_at=timezone.now())
    response = shop.create(recipients=[UG, "12", "not a phone", "+256772000009", "+4915123456789"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["total_recipients"] == 1
    assert body["skipped"] == {"invalid": 2, "opted_out": 1, "unroutable": 1, "duplicates": 0}
    broadcast = shop.broadcast(response)
    assert rows(broadcast, status="skipped") == [
        ("invalid:12", "skipped", "invalid_number"),
        ("invalid:not a phone", "skipped", "invalid_number"),
        ("tel:+256772000009", "skipped", "opted_out"),
        ("tel:+4915123456789", "skipped", "unroutable"),
    ]
    assert Message.objects.get(broadcast=broadcast, status="skipped", urn="tel:+256772000009").cost == 0


def test_transactional_broadcasts_may_include_opted_out_contacts(shop, daytime):
    ContactFactory(client=shop.client, phone=UG, opted_out=True, opted_out_at=timezone.now())
    response = shop.create(recipients=[UG], purpose="transactional", skip_opted_out=False)
    assert response.json()["total_recipients"] == 1
    assert rows(shop.broadcast(response)) == [("tel:+256772000001", "queued", "")]


def test_recipient_variables_render_per_recipient_then_contact_fields(shop, daytime):
    ContactFactory(client=shop.client, phone=KE, first_name="Wanjiru", fields={"code": "K-1"})
    response = shop.create(
        recipients=None,
        recipient_variables=[{"phone": UG, "first_name": "Ann", "code": "A-7"}, {"urn": f"tel:{KE}"}, {"phone": US}],
        text="Hi {{first_name|friend}}, your code is {code}.",
    )
    assert response.status_code == 201, response.content
    texts = dict(Message.objects.filter(broadcast=shop.broadcast(response)).values_list("urn", "text"))
    assert texts == {
        f"tel:{UG}": "Hi Ann, your code is A-7.",
        f"tel:{KE}": "Hi Wanjiru, your code is K-1.",
        f"tel:{US}": "Hi friend, your code is .",
    }


def test_template_in_each_contacts_language_with_fallback_to_the_base_language(shop, daytime):
    TemplateFactory(client=shop.client, name="promo", language="eng", content="Hello {{first_name}}", status="approved")
    TemplateFactory(
        client=shop.client, name="promo", language="fra", content="Bonjour {{first_name}}", status="approved"
    )
    french = ContactFactory(client=shop.client, phone=FR, first_name="Luc", language="fra")
    spanish = ContactFactory(client=shop.client, phone=KE, first_name="Ana", language="spa")
    response = shop.create(
        contacts=[str(french.pk), str(spanish.pk)],
        text=None,
        template="promo",
        base_language="eng",
        purpose="transactional",
    )
    assert response.status_code == 201, response.content
    texts = dict(Message.objects.filter(broadcast=shop.broadcast(response)).values_list("contact_id", "text"))
    assert texts == {french.pk: "Bonjour Luc", spanish.pk: "Hello Ana"}
    assert shop.broadcast(response).template.language == "eng"


def test_text_translations_by_language(shop, daytime):
    french = ContactFactory(client=shop.client, phone=FR, language="fra")
    response = shop.create(
        contacts=[str(french.pk)],
        recipients=[UG],
        text={"eng": "Hello STOP", "fra": "Bonjour STOP"},
        base_language="eng",
    )
    texts = dict(Message.objects.filter(broadcast=shop.broadcast(response)).values_list("urn", "text"))
    assert texts == {f"tel:{UG}": "Hello STOP", f"tel:{FR}": "Bonjour STOP"}


def test_lists_minus_exclude_lists_and_explicit_duplicates(shop, daytime):
    members = [ContactFactory(client=shop.client) for _ in range(5)]
    customers, blocked = ContactListFactory(client=shop.client), ContactListFactory(client=shop.client)
    add_members(customers, *members)
    add_members(blocked, members[0])
    response = shop.create(
        recipients=[members[1].phone], contact_lists=[str(customers.pk)], exclude_lists=[str(blocked.pk)]
    )
    body = response.json()
    assert response.status_code == 201, response.content
    assert body["total_recipients"] == 4
    assert body["skipped"]["duplicates"] == 1
    urns = {urn for urn, _, _ in rows(shop.broadcast(response))}
    assert urns == {f"tel:{c.phone}" for c in members[1:]}


def test_list_name_saves_the_recipients_as_a_new_list(shop, daytime):
    response = shop.create(recipients=[UG, KE, "12"], list_name="Campaign audience")
    assert response.status_code == 201
    saved = ContactList.objects.get(client=shop.client, name="Campaign audience")
    assert sorted(saved.contacts.values_list("phone", flat=True)) == sorted([UG, KE])
    assert response.json()["contact_list"] == str(saved.pk)


def test_list_name_already_taken_is_409_and_creates_nothing(shop):
    ContactListFactory(client=shop.client, name="Taken")
    assert_error(shop.create(recipients=[UG], list_name="Taken"), 409, "conflict", "list_name_taken")
    assert not Broadcast.objects.exists()


def test_draft_saves_without_messages_or_reservation(shop):
    response = shop.create(recipients=[UG, KE], status="draft")
    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["ui_status"], body["total_recipients"]) == ("draft", "Draft", 2)
    assert not Message.objects.exists()
    assert not LedgerEntry.objects.filter(kind="reserve").exists()


def test_simulate_returns_the_same_shape_and_stores_nothing(shop, daytime):
    response = shop.create(recipients=[UG, KE], simulate=True)
    body = response.json()
    assert response.status_code == 200
    assert body["id"] is None
    assert body["simulated"] is True
    assert (body["status"], body["total_recipients"]) == ("queued", 2)
    assert Decimal(body["estimated_cost"]) > 0
    assert Decimal(body["residual_credit"]) == Decimal("100") - Decimal(body["estimated_cost"])
    assert not Broadcast.objects.exists()
    assert not LedgerEntry.objects.filter(kind="reserve").exists()


def test_the_create_response_has_every_field_of_spec(shop, daytime):
    body = shop.create(recipients=[UG, KE]).json()
    for field in [
        "id",
        "name",
        "channel",
        "status",
        "ui_status",
        "schedule_mode",
        "scheduled_at",
        "drip_rate",
        "total_recipients",
        "total_segments",
        "estimated_cost",
        "currency",
        "residual_credit",
        "skipped",
        "stats",
        "created_at",
    ]:
        assert field in body, field
    assert body["stats"] == {
        "waiting": 0,
        "queued": 2,
        "sent": 0,
        "delivered": 0,
        "read": 0,
        "failed": 0,
        "clicks": 0,
        "unique_clicks": 0,
        "ctr": 0.0,
    }
    assert body["currency"] == "USD"
    wallet = shop.refresh()
    assert Decimal(body["residual_credit"]) == wallet.available
    assert wallet.reserved == Decimal(body["estimated_cost"])


def test_idempotency_key_replays_the_created_broadcast(shop, daytime):
    first = shop.api.post(
        "/api/v1/broadcasts/",
        {"name": "x", "recipients": [UG], "text": "Hi"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="launch-1",
    )
    again = shop.api.post(
        "/api/v1/broadcasts/",
        {"name": "x", "recipients": [UG], "text": "Hi"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="launch-1",
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert Broadcast.objects.count() == 1


def test_send_rate_limit_applies_to_create(shop, settings, redis_url, daytime):
    settings.SEND_RATE_LIMIT = "2/15m"
    assert [shop.create(recipients=[UG]).status_code for _ in range(2)] == [201, 201]
    assert_error(shop.create(recipients=[UG]), 429, "rate_limit_error")
    assert shop.precheck(recipients=[UG]).status_code == 200  # precheck counts against API_RATE_LIMIT


def test_refused_creates_and_replays_do_not_count_against_the_send_limit(make_shop, settings, redis_url, daytime):
    """A new user's first minutes: typos (400), an empty wallet (402) and retries with the same
    Idempotency-Key must not use up SEND_RATE_LIMIT; only the broadcasts that were accepted do."""
    settings.SEND_RATE_LIMIT = "2/15m"
    shop = make_shop(balance="0.02")  # two one-part messages to Uganda (0.0094 each), not 50
    assert [shop.create(recipients=[UG], sender="Nope").status_code for _ in range(3)] == [400] * 3
    assert shop.create(recipients=[f"+2567720{i:05d}" for i in range(50)]).status_code == 402
    first = shop.api.post(
        "/api/v1/broadcasts/", {"name": "x", "recipients": [UG], "text": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="a"
    )
    for _ in range(3):
        again = shop.api.post(
            "/api/v1/broadcasts/",
            {"name": "x", "recipients": [UG], "text": "Hi"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="a",
        )
        assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    assert shop.create(recipients=[UG]).status_code == 201
    assert_error(shop.create(recipients=[UG]), 429, "rate_limit_error")
    assert Broadcast.objects.count() == 2


def test_message_rows_are_written_in_bulk(shop, daytime, django_assert_max_num_queries):
    recipients = [f"+2567720{i:05d}" for i in range(2000)]
    with django_assert_max_num_queries(40):
        response = shop.create(recipients=recipients)
    assert response.status_code == 201
    assert Message.objects.filter(broadcast=shop.broadcast(response)).count() == 2000


class TestStopMention:
    def test_marketing_sms_to_french_numbers_must_mention_stop(self, shop, daytime):
        error = assert_error(
            shop.create(recipients=[FR, UG], text="Soldes !"), 400, "invalid_request_error", "stop_mention_missing"
        )
        assert "text" in error["fields"]
        assert not Broadcast.objects.exists()

    @pytest.mark.parametrize(
        "body",
        [
            {"text": "Soldes ! STOP au 36173"},
            {"text": "Soldes ! Stop SMS 36173"},
            {"text": "Soldes !", "purpose": "transactional"},
            {"text": "Sales!", "recipients": [UG]},
        ],
    )
    def test_allowed(self, shop, daytime, body):
        assert shop.create(**{"recipients": [FR], **body}).status_code == 201

    def test_precheck_warns_instead(self, shop, daytime):
        response = shop.precheck(recipients=[FR], text="Soldes !")
        assert response.status_code == 200
        assert "stop_mention_missing" in [w["code"] for w in response.json()["warnings"]]


class TestWhen:
    def test_french_marketing_at_night_waits_for_eight_in_paris(self, shop):
        night = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 23:30 in Paris, a Tuesday
        with time_machine.travel(night, tick=False):
            response = shop.create(recipients=[FR, UG], text="Soldes STOP")
        by_urn = {m.urn: m for m in Message.objects.filter(broadcast=shop.broadcast(response))}
        assert by_urn[f"tel:{FR}"].status == "pending"
        assert by_urn[f"tel:{FR}"].not_before == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 08:00 Paris
        assert (by_urn[f"tel:{UG}"].status, by_urn[f"tel:{UG}"].not_before) == ("queued", None)

    def test_transactional_ignores_quiet_hours(self, shop):
        with time_machine.travel(datetime(2026, 11, 24, 22, 30, tzinfo=UTC), tick=False):
            response = shop.create(recipients=[FR], text="Your code 1234", purpose="transactional")
        assert rows(shop.broadcast(response)) == [(f"tel:{FR}", "queued", "")]

    def test_scheduled_broadcast_reserves_now_and_waits(self, shop, daytime):
        at = timezone.now() + timedelta(hours=2)
        response = shop.create(recipients=[UG, KE], schedule_mode="scheduled", scheduled_at=at.isoformat())
        body = response.json()
        assert (body["status"], body["ui_status"]) == ("scheduled", "Scheduled")
        assert set(Message.objects.filter(broadcast_id=body["id"]).values_list("status", "not_before")) == {
            ("pending", at.replace(microsecond=at.microsecond))
        }
        assert shop.refresh().reserved == Decimal(body["estimated_cost"])

    def test_drip_spreads_messages_evenly_over_each_minute(self, shop, daytime):
        recipients = [f"+2567720{i:05d}" for i in range(7)]
        response = shop.create(recipients=recipients, schedule_mode="drip", drip_rate=3)
        times = list(
            Message.objects.filter(broadcast=shop.broadcast(response))
            .order_by("id")
            .values_list("not_before", flat=True)
        )
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
        assert gaps == {20.0}
        assert times[0] <= timezone.now()
        assert response.json()["drip_rate"] == 3


class TestChannels:
    def test_telegram_chat_ids_and_contacts_chat_ids(self, shop, daytime):
        ContactFactory(client=shop.client, phone=KE, telegram_chat_id="5551234")
        response = shop.create(channel="telegram", recipients=["telegram:987654321", KE, UG])
        assert response.status_code == 201, response.content
        assert rows(shop.broadcast(response)) == [
            ("telegram:987654321", "queued", ""),
            ("telegram:5551234", "queued", ""),
            ("tel:+256772000001", "skipped", "unroutable"),
        ]

    def test_whatsapp_uses_an_approved_template_and_whatsapp_urns(self, shop, daytime):
        TemplateFactory(
            client=shop.client, name="hello", channel="whatsapp", content="Hi {{first_name|there}}", status="approved"
        )
        response = shop.create(channel="whatsapp", recipients=[UG], text=None, template="hello")
        assert response.status_code == 201, response.content
        assert rows(shop.broadcast(response)) == [("whatsapp:+256772000001", "queued", "")]
        message = Message.objects.get(broadcast=shop.broadcast(response))
        assert (message.text, message.segments, message.encoding) == ("Hi there", 1, "")


def test_text_and_template_are_echoed_as_given(shop, daytime):
    assert shop.create(recipients=[UG], text="Hi").json()["text"] == "Hi"
    body = shop.create(recipients=[UG], text={"eng": "Hi", "fra": "Salut"}, base_language="eng").json()
    assert (body["text"], body["template"]) == ({"eng": "Hi", "fra": "Salut"}, None)
