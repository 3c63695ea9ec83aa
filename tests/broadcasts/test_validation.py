"""Every rule and bad input of SPEC §8's create body: a clear 400 (or 402/403/404) and nothing created."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, Message
from tests.broadcasts.conftest import UG
from tests.factories.contacts import ContactListFactory
from tests.factories.templates_app import TemplateFactory
from tests.helpers import assert_error
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db


def assert_nothing_created():
    assert not Broadcast.objects.exists()
    assert not Message.objects.exists()
    assert not LedgerEntry.objects.filter(kind="reserve").exists()


def in_(**delta):
    return (timezone.now() + timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"recipients": [f"+2567720{i:05d}" for i in range(10_001)]}, "recipients", "too_many"),
        ({"recipient_variables": [{"phone": UG}] * 10_001, "recipients": None}, "recipient_variables", "too_many"),
        ({"recipients": [UG], "recipient_variables": [{"phone": UG}]}, "recipient_variables", "exclusive"),
        ({"recipients": []}, "recipients", "no_recipients"),
        ({"recipients": [UG], "text": None}, "template", "template_or_text"),
        ({"recipients": [UG], "template": "promo"}, "template", "template_or_text"),
        ({"recipients": [UG], "schedule_mode": "scheduled"}, "scheduled_at", "required"),
        (
            {"recipients": [UG], "schedule_mode": "scheduled", "scheduled_at": in_(minutes=-5)},
            "scheduled_at",
            "too_soon",
        ),
        (
            {"recipients": [UG], "schedule_mode": "scheduled", "scheduled_at": in_(minutes=9)},
            "scheduled_at",
            "too_soon",
        ),
        ({"recipients": [UG], "schedule_mode": "scheduled", "scheduled_at": in_(days=91)}, "scheduled_at", "too_far"),
        (
            {"recipients": [UG], "schedule_mode": "scheduled", "scheduled_at": "next tuesday"},
            "scheduled_at",
            "invalid_datetime",
        ),
        # Well-formed but impossible: Django's parse_datetime raises on these (it used to be a 500).
        *(
            ({"recipients": [UG], "schedule_mode": "scheduled", "scheduled_at": at}, "scheduled_at", "invalid_datetime")
            for at in ("2027-02-30T10:00:00Z", "2027-01-01T25:00:00Z", "2027-01-01T10:61:00+03:00")
        ),
        # PostgreSQL cannot store a NUL: refused before anything is looked up (it used to be a 500).
        ({"recipients": [UG], "name": "Pro\x00mo"}, "name", "nul_character"),
        ({"recipients": [UG], "text": "Hel\x00lo"}, "text", "nul_character"),
        (
            {"recipients": [UG], "text": {"eng": "Hi", "fra": "Sal\x00ut"}, "base_language": "eng"},
            "text.fra",
            "nul_character",
        ),
        ({"recipients": [UG, "+2567720\x0000002"]}, "recipients.1", "nul_character"),
        ({"recipients": [UG], "scheduled_at": in_(days=1)}, "scheduled_at", "unexpected"),
        ({"recipients": [UG], "schedule_mode": "drip"}, "drip_rate", "required"),
        ({"recipients": [UG], "schedule_mode": "drip", "drip_rate": 0}, "drip_rate", "out_of_range"),
        ({"recipients": [UG], "schedule_mode": "drip", "drip_rate": 601}, "drip_rate", "out_of_range"),
        ({"recipients": [UG], "schedule_mode": "drip", "drip_rate": "fast"}, "drip_rate", "invalid"),
        ({"recipients": [UG], "sender": "A"}, "sender", "invalid_sender"),
        ({"recipients": [UG], "sender": "TooLongSender1"}, "sender", "invalid_sender"),
        ({"recipients": [UG], "sender": "Bad-Name"}, "sender", "invalid_sender"),
        ({"recipients": [UG], "sender": "Unknown"}, "sender", "sender_not_registered"),
        ({"recipients": [UG], "text": "a" * 1225}, "text", "text_too_long"),
        (
            {"recipients": [UG], "attachments": ["https://example.com/a.jpg"]},
            "attachments",
            "attachments_not_supported",
        ),
        ({"recipients": [UG], "channel": "rcs", "attachments": ["not a url"]}, "attachments", "invalid_url"),
        ({"recipients": [UG], "channel": "fax"}, "channel", "invalid_choice"),
        ({"recipients": [UG], "purpose": "spam"}, "purpose", "invalid_choice"),
        ({"recipients": [UG], "tier": "cheap"}, "tier", "invalid_choice"),
        ({"recipients": [UG], "skip_opted_out": False}, "skip_opted_out", "opt_out_required"),
        ({"recipients": [UG], "track_links": "yes"}, "track_links", "invalid_boolean"),
        (
            {"recipients": [UG], "channel": "whatsapp", "text": None, "template": "promo", "track_links": True},
            "track_links",
            "track_links_unsupported",
        ),
        ({"recipients": [UG], "status": "sent"}, "status", "invalid_choice"),
        ({"recipients": [UG], "recipientVariables": []}, "recipientVariables", "unknown_field"),
        ({"recipients": [UG], "name": ""}, "name", "required"),
        ({"recipients": [UG], "name": "x" * 256}, "name", "max_length"),
        ({"recipients": [UG], "route": "NOPE"}, "route", "unknown_route"),
        ({"recipients": [UG], "contacts": ["not-a-uuid"]}, "contacts.0", "invalid_id"),
        ({"recipients": [UG], "text": {"eng": "Hi", "fra": "Salut"}}, "base_language", "required"),
        ({"recipients": [UG], "text": {"eng": "Hi"}, "base_language": "fra"}, "base_language", "invalid_language"),
        (
            {"recipients": [UG], "text": {"eng": "Hi", "english": "Hi"}, "base_language": "eng"},
            "text.english",
            "invalid_language",
        ),
        ({"recipient_variables": [{"first_name": "Ann"}], "recipients": None}, "recipient_variables.0", "required"),
    ],
)
def test_bad_create_bodies_get_400_and_create_nothing(shop, body, field, code):
    for endpoint in (shop.create, shop.precheck):
        error = assert_error(endpoint(**body), 400, "invalid_request_error", code)
        assert list(error["fields"]) == [field], error
    assert_nothing_created()


def test_sms_text_of_1224_characters_is_accepted(shop, daytime):
    assert shop.create(recipients=[UG], text="a" * 1224).status_code == 201


def test_10000_recipients_are_accepted(shop, daytime):
    response = shop.precheck(recipients=[f"+2567720{i:05d}" for i in range(10_000)], text="Hi")
    assert response.status_code == 200
    assert response.json()["total_contacts"] == 10_000


def test_unknown_template_is_400(shop):
    assert_error(
        shop.create(recipients=[UG], text=None, template="nope"), 400, "invalid_request_error", "template_not_found"
    )
    assert_nothing_created()


def test_another_clients_template_is_not_found(shop, make_shop):
    other = make_shop()
    TemplateFactory(client=other.client, name="promo", content="Hi", status="approved")
    assert_error(
        shop.create(recipients=[UG], text=None, template="promo"), 400, "invalid_request_error", "template_not_found"
    )


def test_unapproved_whatsapp_template_is_reported_as_not_approved(shop):
    TemplateFactory(client=shop.client, name="promo", channel="whatsapp", content="Hi", status="pending")
    response = shop.create(recipients=[UG], text=None, template="promo", channel="whatsapp")
    assert_error(response, 400, "invalid_request_error", "template_not_approved")
    assert_nothing_created()


@pytest.mark.parametrize(
    ("channel", "scope"), [("sms", "send_sms"), ("whatsapp", "send_whatsapp"), ("telegram", "send_telegram")]
)
def test_a_missing_channel_scope_is_403(make_shop, channel, scope):
    shop = make_shop(scopes=["read", "send_rcs"])
    body = {"recipients": [UG], "channel": channel}
    if channel == "whatsapp":
        body.update(text=None, template="promo")
    error = assert_error(shop.create(**body), 403, "permission_error", "missing_scope")
    assert scope in error["message"]
    assert_error(shop.precheck(**body), 403, "permission_error", "missing_scope")
    assert_nothing_created()


def test_too_little_credit_is_402_and_creates_nothing(make_shop, daytime):
    shop = make_shop(balance="0.01")
    response = shop.create(recipients=[f"+2567720{i:05d}" for i in range(10)], text="Hello")
    error = assert_error(response, 402, "insufficient_credit", "insufficient_credit")
    assert "available" in error["message"]
    assert_nothing_created()
    assert shop.refresh().reserved == 0


def test_unknown_or_other_clients_lists_are_404(shop, make_shop):
    other_list = ContactListFactory(client=make_shop().client)
    for field in ("contact_lists", "exclude_lists"):
        response = shop.create(recipients=[UG], **{field: [str(other_list.pk)]})
        assert_error(response, 404, "not_found")
    assert_nothing_created()


def test_malformed_json_body_is_400(shop):
    response = shop.api.post("/api/v1/broadcasts/", "{", content_type="application/json")
    assert_error(response, 400, "invalid_request_error", "parse_error")


def test_track_links_is_refused_for_whatsapp_templates(shop):
    error = assert_error(
        shop.create(recipients=[UG], channel="whatsapp", text=None, template="promo", track_links=True),
        400,
        "invalid_request_error",
    )
    assert error["fields"]["track_links"] == [
        "WhatsApp templates are rendered by Meta: their links cannot be rewritten (free text's can)."
    ]
