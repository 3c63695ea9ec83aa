"""SPEC §14, RapidPro v2 `broadcasts.json` (COMPAT.md §2.3–2.4): the list and the create, RapidPro's
shapes and error strings, Herald's rules underneath (credit, compliance, scopes, tenancy, the
compat send limit, Idempotency-Key), and the broadcast created being the native one."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, Message, Reply
from compat.rapidpro.broadcasts import STATUS
from compat.rapidpro.expressions import ExpressionError, rewrite
from contacts.models import Contact
from tests.broadcasts.conftest import FR, KE, UG, assert_counters_exact
from tests.factories.accounts import ClientFactory
from tests.factories.broadcasts import SenderFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members
from tests.factories.templates_app import TemplateFactory
from tests.wallets.conftest import assert_ledger_consistent

URL = "/api/v2/broadcasts.json"


@pytest.fixture(autouse=True)
def _money_and_counters_exact(request):
    yield
    if "db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        assert_ledger_consistent()
        assert_counters_exact()


@pytest.fixture
def rp(shop, make_rapidpro):
    """The shop's tenant through RapidPro's door (every scope)."""
    return make_rapidpro(client=shop.client)


def post(api, body, **extra):
    return api.post(URL, body, format="json", **extra)


def only(api, **params):
    response = api.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- the create ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_answers_201_with_the_broadcast_object(shop, rp, daytime):
    joe = ContactFactory(client=shop.client, phone=KE, first_name="Joe", last_name="Blow")
    reporters = ContactListFactory(client=shop.client, name="Reporters")
    member = ContactFactory(client=shop.client, first_name="Ann", last_name="")
    add_members(reporters, member)
    response = post(
        rp,
        {
            "text": "Hello @contact.first_name",
            "urns": [f"tel:{UG}"],
            "contacts": [str(joe.pk)],
            "groups": ["reporters"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    broadcast = Broadcast.objects.get()
    assert body == {
        "uuid": str(broadcast.pk),
        "id": None,
        "status": "queued",
        "progress": {"total": 3, "started": 3},
        "urns": [f"tel:{UG}"],
        "contacts": [{"uuid": str(joe.pk), "name": "Joe Blow"}],
        "groups": [{"uuid": str(reporters.pk), "name": "Reporters"}],
        "text": {"eng": "Hello @contact.first_name"},
        "attachments": {"eng": []},
        "quick_replies": {"eng": []},
        "base_language": "eng",
        "created_on": broadcast.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "herald": {
            "status": "queued",
            "channel": "sms",
            "name": "RapidPro API: Hello @contact.first_name",
            "template": None,
            "scheduled_at": None,
            "preparing": False,
            "total_recipients": 3,
            "estimated_cost": body["herald"]["estimated_cost"],
            "currency": "USD",
            "stats": {"queued": 3, "sent": 0, "delivered": 0, "read": 0, "failed": 0, "clicks": 0},
            "skipped": {"invalid": 0, "opted_out": 0, "unroutable": 0, "duplicates": 0},
        },
    }
    assert Decimal(body["herald"]["estimated_cost"]) == broadcast.estimated_cost > 0
    texts = dict(Message.objects.filter(broadcast=broadcast).values_list("urn", "text"))
    assert texts == {f"tel:{UG}": "Hello ", f"tel:{KE}": "Hello Joe", f"tel:{member.phone}": "Hello Ann"}
    assert only(rp) == [body]  # the list shows the same object


@pytest.mark.django_db
def test_the_compat_broadcast_is_the_native_broadcast(shop, rp, daytime):
    body = post(rp, {"text": "Hi there", "urns": [f"tel:{UG}", f"tel:{KE}"]}).json()
    native = shop.api.get(f"/api/v1/broadcasts/{body['uuid']}/")
    assert native.status_code == 200
    assert native.json()["id"] == body["uuid"]
    assert native.json()["name"] == "RapidPro API: Hi there"
    assert (native.json()["channel"], native.json()["total_recipients"]) == ("sms", 2)
    assert native.json()["text"] == {"eng": "Hi there"}
    assert Broadcast.objects.get().created_by_key == rp.api_key


@pytest.mark.django_db
def test_a_string_text_is_in_the_clients_language(shop, rp, daytime):
    shop.client.language = "fra"
    shop.client.save()
    body = post(rp, {"text": "Bonjour STOP", "urns": [f"tel:{UG}"]}).json()
    assert (body["text"], body["base_language"]) == ({"fra": "Bonjour STOP"}, "fra")
    assert Broadcast.objects.get().text == {"fra": "Bonjour STOP"}


@pytest.mark.django_db
def test_translations_with_a_base_language(shop, rp, daytime):
    french = ContactFactory(client=shop.client, phone=FR, language="fra")
    response = post(
        rp,
        {"text": {"eng": "Hello STOP", "fra": "Bonjour STOP"}, "base_language": "eng", "contacts": [str(french.pk)]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["text"] == {"eng": "Hello STOP", "fra": "Bonjour STOP"}
    assert Message.objects.get().text == "Bonjour STOP"


@pytest.mark.django_db
def test_without_base_language_the_first_translation_is_the_base(shop, rp, daytime):
    body = post(rp, {"text": {"kin": "Muraho", "eng": "Hello"}, "urns": [f"tel:{UG}"]}).json()
    assert body["base_language"] == "kin"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"non_field_errors": ["Must provide either text or attachments."]}),
        ({"text": "Hello"}, {"non_field_errors": ["Must provide either urns, contacts or groups."]}),
        (
            {"text": {"kin": "Muraho"}, "base_language": "eng", "urns": [f"tel:{UG}"]},
            {"non_field_errors": ["No text translation provided in base language."]},
        ),
        (
            {"text": {"eng": "Hi"}, "attachments": {"spa": ["image/jpeg:https://x.example/a.jpg"]},
             "base_language": "eng", "urns": [f"whatsapp:{UG[1:]}"]},
            {"non_field_errors": ["No attachment translations provided in base language."]},
        ),
        ({"text": "Hi", "urns": [f"tel:{UG}"] * 101}, {"urns": ["Ensure this field has no more than 100 elements."]}),
        ({"text": "Hi", "contacts": ["x"] * 101}, {"contacts": ["Ensure this field has no more than 100 elements."]}),
        ({"text": "Hi", "groups": ["x"] * 101}, {"groups": ["Ensure this field has no more than 100 elements."]}),
        ({"text": "Hi", "groups": [123456]}, {"groups": ["No such object: 123456"]}),
        ({"text": "Hi", "contacts": ["tel:+256772999999"]}, {"contacts": ["No such object: tel:+256772999999"]}),
        (
            {"text": "Hi", "urns": [f"tel:{UG}", "facebook:1234"]},
            {"urns": {"1": ["Unsupported URN scheme: facebook. Herald sends to tel:, whatsapp: and telegram: URNs."]}},
        ),
        (
            {"text": "Hi", "urns": ["tel:12", "+256772000001"]},
            {"urns": {
                "0": ["Invalid URN: tel:12. Ensure phone numbers contain country codes."],
                "1": ["Invalid URN: +256772000001. Ensure phone numbers contain country codes."],
            }},
        ),
        (
            {"text": "Hi", "urns": [f"tel:{UG}", f"whatsapp:{KE[1:]}"]},
            {"urns": ["Herald sends one channel per broadcast: send tel:, whatsapp: and telegram: URNs in separate "
                      "requests."]},
        ),
        ({"text": "Hi @(upper(contact.name))", "urns": [f"tel:{UG}"]},
         {"text": ["Expressions @(...) are not supported by Herald."]}),
        ({"text": "x" * 4097, "urns": [f"tel:{UG}"]},
         {"text": ["Ensure this field has no more than 4096 characters."]}),
        ({"text": 12, "urns": [f"tel:{UG}"]}, {"text": ["Value must be a string or dict of strings."]}),
        ({"text": {"english": "Hi"}, "urns": [f"tel:{UG}"]}, {"text": ["Language code english is not valid."]}),
        ({"text": "Hi", "urns": [f"tel:{UG}"], "attachments": ["https://x.example/a.jpg"] * 11},
         {"attachments": ["Ensure this field has no more than 10 elements."]}),
        ({"text": "Hi", "urns": [f"tel:{UG}"], "herald": {"colour": "red"}},
         {"herald": {"colour": ["Unknown field 'colour'."]}}),
        ({"text": "Hi", "urns": [f"tel:{UG}"], "herald": "x"}, {"herald": ["Must be an object."]}),
    ],
)  # fmt: skip
def test_rapidpros_refusals_in_its_words(shop, rp, body, errors):
    response = post(rp, body)
    assert response.status_code == 400, response.content
    assert response.json() == errors
    assert not Broadcast.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_an_object(rp):
    response = post(rp, ["hi"])
    assert (response.status_code, response.json()) == (
        400,
        {"non_field_errors": ["Request body should be a single JSON object"]},
    )


@pytest.mark.django_db
def test_contacts_by_urn_and_groups_by_name_case_insensitively(shop, rp, daytime):
    joe = ContactFactory(client=shop.client, phone=UG)
    chat = ContactFactory(client=shop.client, phone=None, telegram_chat_id="4242")
    group = ContactListFactory(client=shop.client, name="Field Staff")
    response = post(rp, {"text": "Hi", "contacts": [f"tel:{UG}", f"whatsapp:{UG[1:]}"], "groups": ["FIELD STAFF"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert [c["uuid"] for c in body["contacts"]] == [str(joe.pk)]  # named twice, sent once
    assert body["groups"] == [{"uuid": str(group.pk), "name": "Field Staff"}]
    telegram = post(rp, {"text": "Hi", "contacts": ["telegram:4242"], "herald": {"channel": "telegram"}})
    assert telegram.status_code == 201, telegram.content
    assert telegram.json()["contacts"] == [{"uuid": str(chat.pk), "name": chat.name}]


@pytest.mark.django_db
def test_another_clients_contacts_and_groups_are_no_such_object(shop, rp):
    other = ClientFactory()
    theirs = ContactFactory(client=other)
    their_list = ContactListFactory(client=other, name="Theirs")
    assert post(rp, {"text": "Hi", "contacts": [str(theirs.pk)]}).json() == {
        "contacts": [f"No such object: {theirs.pk}"]
    }
    assert post(rp, {"text": "Hi", "groups": [str(their_list.pk)]}).json() == {
        "groups": [f"No such object: {their_list.pk}"]
    }
    assert post(rp, {"text": "Hi", "groups": ["Theirs"]}).json() == {"groups": ["No such object: Theirs"]}


@pytest.mark.django_db
def test_the_channel_is_the_urns_scheme(shop, rp, daytime):
    telegram = post(rp, {"text": "Hi", "urns": ["telegram:123456789"]})
    assert telegram.status_code == 201, telegram.content
    assert (telegram.json()["herald"]["channel"], telegram.json()["urns"]) == ("telegram", ["telegram:123456789"])
    # WhatsApp: digits without + as RapidPro writes them (with + also read)
    Reply.objects.create(client=shop.client, urn=f"whatsapp:{UG}", channel="whatsapp", text="Hello?",
                         connector=shop.connector, received_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    whatsapp = post(rp, {"text": "Hi", "urns": [f"whatsapp:{UG[1:]}"]})
    assert whatsapp.status_code == 201, whatsapp.content
    assert (whatsapp.json()["herald"]["channel"], whatsapp.json()["urns"]) == ("whatsapp", [f"whatsapp:{UG[1:]}"])
    clash = post(rp, {"text": "Hi", "urns": [f"tel:{UG}"], "herald": {"channel": "telegram"}})
    assert clash.json() == {"herald": {"channel": ["The urns are tel: URNs; they cannot be sent on telegram."]}}


@pytest.mark.django_db
def test_whatsapp_urns_are_written_as_digits(shop, rp):
    audience = {"recipients": [{"address": f"whatsapp:{UG}", "variables": {}}, {"address": "0772000002"}]}
    Broadcast.objects.create(client=shop.client, name="W", channel="whatsapp", audience=audience)
    assert only(rp)[0]["urns"] == [f"whatsapp:{UG[1:]}", "tel:+256772000002"]


@pytest.mark.django_db
def test_unknown_urns_become_contacts_and_a_refusal_leaves_none(shop, rp, daytime):
    response = post(rp, {"text": "Hi", "urns": [f"tel:{UG}", "tel:0712000001", "telegram:777"]})
    assert response.status_code == 400  # the Kenyan number read as Ugandan is invalid
    assert not Contact.objects.exists()
    response = post(rp, {"text": "Hi", "urns": [f"tel:{UG}", "tel:0772000002"]})
    assert response.status_code == 201, response.content
    assert response.json()["urns"] == [f"tel:{UG}", "tel:+256772000002"]  # national numbers in the client's country
    contacts = dict(Contact.objects.values_list("phone", "pk"))
    assert set(contacts) == {UG, "+256772000002"}
    assert dict(Message.objects.values_list("urn", "contact_id")) == {
        f"tel:{UG}": contacts[UG],
        "tel:+256772000002": contacts["+256772000002"],
    }
    refused = post(rp, {"text": "Hi", "urns": ["tel:+256772000003"], "herald": {"sender": "Nobody"}})
    assert refused.status_code == 400
    assert not Contact.objects.filter(phone="+256772000003").exists()


@pytest.mark.django_db
def test_a_telegram_urn_becomes_a_contact(shop, rp, daytime):
    assert post(rp, {"text": "Hi", "urns": ["telegram:777"]}).status_code == 201
    assert Contact.objects.filter(client=shop.client, telegram_chat_id="777", phone=None).exists()
    # The native audience looks contacts up by phone only, so this message carries no contact (yet).
    assert Message.objects.get().urn == "telegram:777"


# --- expressions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rapidpro", "herald"),
    [
        ("Hi @contact.name", "Hi @contact.name"),
        ("Hi @contact.first_name, age @fields.age", "Hi @contact.first_name, age @fields.age"),
        ("Age @contact.fields.age!", "Age @fields.age!"),
        ("Hi @contact.", "Hi {{name}}."),
        ("Hi @contact", "Hi {{name}}"),
        ("Call @contact.tel or @urns.tel", "Call {{phone}} or {{phone}}"),
        ("Mail info@contact.com, @@home", "Mail info@contact.com, @home"),
        ("@contactless @contact.tel_e164", "@contactless @contact.tel_e164"),
    ],
)
def test_expressions_are_rewritten_into_heralds(rapidpro, herald):
    assert rewrite(rapidpro) == herald


@pytest.mark.parametrize("text", ["@(1 + 2)", "Hi @(contact.name)", "Hi @@contact.name", "@@fields.age"])
def test_what_herald_cannot_render_is_refused(text):
    with pytest.raises(ExpressionError):
        rewrite(text)


@pytest.mark.django_db
def test_expressions_render_as_in_rapidpro(shop, rp, daytime):
    ContactFactory(client=shop.client, phone=UG, first_name="Joe", last_name="Blow", fields={"age": "33"})
    text = "@contact, @contact.first_name (@contact.fields.age) on @urns.tel: 100@@ sure"
    assert post(rp, {"text": text, "urns": [f"tel:{UG}"]}).status_code == 201
    assert Message.objects.get().text == f"Joe Blow, Joe (33) on {UG}: 100@ sure"
    escaped = post(rp, {"text": "Write @@contact.name", "urns": [f"tel:{UG}"]})
    assert escaped.status_code == 400
    assert "@@contact.name" in escaped.json()["text"][0]


# --- Herald's own refusals, as 400s the client shows ---------------------------------------------


@pytest.mark.django_db
def test_insufficient_credit_is_a_400_saying_so(make_shop, make_rapidpro, daytime):
    shop = make_shop(balance="0")
    response = post(make_rapidpro(client=shop.client), {"text": "Hi", "urns": [f"tel:{UG}"]})
    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert message.startswith("Insufficient credit: this broadcast needs ")
    assert message.endswith("USD is available.")
    assert not Broadcast.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_the_stop_mention_rule_is_a_400(shop, rp, daytime):
    response = post(rp, {"text": "Promo today", "urns": [f"tel:{FR}"]})
    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert message.startswith("Marketing SMS to French numbers must mention STOP")
    transactional = post(rp, {"text": "Your code", "urns": [f"tel:{FR}"], "herald": {"purpose": "transactional"}})
    assert transactional.status_code == 201


@pytest.mark.django_db
def test_heralds_sms_length_and_attachment_rules(shop, rp):
    too_long = post(rp, {"text": "x" * 1225, "urns": [f"tel:{UG}"]})
    assert too_long.json() == {"text": {"eng": ["Ensure this field has no more than 1224 characters."]}}
    media = post(rp, {"text": "Hi", "urns": [f"tel:{UG}"], "attachments": ["image/jpeg:https://x.example/a.jpg"]})
    assert media.json() == {"attachments": ["SMS cannot carry attachments."]}


@pytest.mark.django_db
def test_an_unregistered_sender_is_named_under_herald(shop, rp):
    response = post(rp, {"text": "Hi", "urns": [f"tel:{UG}"], "herald": {"sender": "Nobody"}})
    assert response.status_code == 400
    assert response.json() == {"herald": {"sender": ["'Nobody' is not a sender registered for sms on this account."]}}


@pytest.mark.django_db
def test_a_native_conflict_is_a_400_detail(rapidpro):
    response = post(rapidpro, {"text": "Hi", "urns": [f"tel:{UG}"]})  # a client without a wallet
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "This client has no wallet; create one before sending."},
    )


@pytest.mark.django_db
def test_herald_extension_passes_through(shop, rp, daytime):
    SenderFactory(client=shop.client, sender="Shop")
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    response = post(
        rp,
        {"text": "Sale STOP", "urns": [f"tel:{UG}"],
         "herald": {"name": "Black Friday", "sender": "Shop", "scheduled_at": at.isoformat(), "tier": "premium",
                    "purpose": "transactional", "track_links": True}},
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["herald"]["status"], body["herald"]["name"]) == (
        "pending",
        "scheduled",
        "Black Friday",
    )
    assert body["herald"]["scheduled_at"] == at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    broadcast = Broadcast.objects.get()
    assert (broadcast.sender, broadcast.tier, broadcast.purpose, broadcast.track_links) == (
        "Shop", "premium", "transactional", True
    )  # fmt: skip


@pytest.mark.django_db
def test_the_tier_passes_through_and_nothing_sendable_is_a_non_field_error(shop, rp, daytime):
    response = post(rp, {"text": "Hi", "urns": [f"tel:{UG}"], "herald": {"tier": "low_cost"}})  # no such route
    assert response.json() == {
        "non_field_errors": [
            "None of the recipients can be sent to (all invalid, opted out, duplicates or unroutable)."
        ]
    }


@pytest.mark.django_db
def test_simulate_stores_nothing(shop, rp, daytime):
    response = post(rp, {"text": "Hi", "urns": [f"tel:{UG}"], "herald": {"simulate": True}})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["uuid"], body["created_on"], body["herald"]["simulated"]) == (None, None, True)
    assert body["herald"]["total_recipients"] == 1
    assert not Broadcast.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_quick_replies_are_echoed(shop, rp, daytime):
    replies = [{"type": "text", "text": "Yes"}]
    response = post(rp, {"text": "Coming?", "urns": [f"tel:{UG}"], "quick_replies": replies})
    assert response.json()["quick_replies"] == {"eng": replies}


# --- WhatsApp free text (SPEC §14): the native window rule, through RapidPro's door ----------------

INSIDE, NEVER = "+256772000101", "+256772000103"


def wrote(shop, phone, hours_ago):
    return Reply.objects.create(
        client=shop.client, urn=f"whatsapp:{phone}", channel="whatsapp", text="Hello?", connector=shop.connector,
        received_at=timezone.now() - timedelta(hours=hours_ago),
    )  # fmt: skip


@pytest.mark.django_db
def test_whatsapp_text_goes_to_numbers_inside_the_window_and_skips_the_rest(shop, rp, daytime):
    wrote(shop, INSIDE, 23)
    wrote(shop, NEVER, 25)  # too long ago
    response = post(rp, {"text": "Hi @contact.first_name", "urns": [f"whatsapp:{INSIDE[1:]}", f"whatsapp:{NEVER}"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["herald"]["channel"], body["herald"]["template"], body["herald"]["total_recipients"]) == (
        "whatsapp", None, 1
    )  # fmt: skip
    assert body["urns"] == [f"whatsapp:{INSIDE[1:]}", f"whatsapp:{NEVER[1:]}"]  # as given, RapidPro's spelling
    assert body["herald"]["skipped"]["whatsapp_window_closed"] == 1  # counted where RapidPro users look
    messages = dict(Message.objects.values_list("urn", "error_code"))
    assert messages == {f"whatsapp:{INSIDE}": "", f"whatsapp:{NEVER}": "whatsapp_window_closed"}
    native = shop.api.get(f"/api/v1/broadcasts/{body['uuid']}/").json()  # the same broadcast, natively
    assert (native["total_recipients"], native["skipped"]["whatsapp_window_closed"]) == (1, 1)


@pytest.mark.django_db
def test_whatsapp_text_to_nobody_inside_the_window_is_a_400_saying_why(shop, rp, daytime):
    response = post(rp, {"text": "Hi", "urns": [f"whatsapp:{NEVER[1:]}"]})
    assert (response.status_code, response.json()) == (
        400,
        {"non_field_errors": [
            "None of the recipients can be sent to: WhatsApp free text goes only to numbers that wrote to this "
            "WhatsApp number in the last 24 hours (1 did not); send an approved template instead."
        ]},
    )  # fmt: skip
    assert not Broadcast.objects.exists()
    assert not Contact.objects.exists()  # a refusal leaves no contact behind


@pytest.mark.django_db
def test_herald_template_still_reaches_whatsapp_numbers_that_never_wrote(shop, rp, daytime):
    TemplateFactory(client=shop.client, channel="whatsapp", name="order_ready", content="Ready", status="approved")
    response = post(rp, {"urns": [f"whatsapp:{NEVER[1:]}"], "herald": {"template": "order_ready"}})
    assert response.status_code == 201, response.content
    assert (response.json()["herald"]["template"], response.json()["herald"]["total_recipients"]) == (
        "order_ready", 1
    )  # fmt: skip
    assert Message.objects.get().status == "queued"


# --- scopes, limits, idempotency ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scopes", "body", "allowed"),
    [
        (["read"], {"text": "Hi", "urns": [f"tel:{UG}"]}, False),
        (["send_sms"], {"text": "Hi", "urns": [f"tel:{UG}"]}, True),
        (["send_sms"], {"text": "Hi", "urns": ["telegram:123"]}, False),
        (["send_telegram"], {"text": "Hi", "urns": ["telegram:123"]}, True),
        (["send_telegram"], {"text": "Hi", "contacts": [], "groups": ["G"]}, False),  # no URNs: SMS
        (["send_telegram"], {"text": "Hi", "groups": ["G"], "herald": {"channel": "telegram"}}, True),
    ],
)
def test_post_needs_the_send_scope_of_its_channel(shop, make_rapidpro, daytime, scopes, body, allowed):
    ContactListFactory(client=shop.client, name="G")
    response = post(make_rapidpro(client=shop.client, scopes=scopes), body)
    if allowed:
        assert response.status_code != 403, response.content
    else:
        assert response.status_code == 403
        assert response.json() == {"detail": "You do not have permission to perform this action."}
        assert not Broadcast.objects.exists()


@pytest.mark.django_db
def test_reading_needs_the_read_scope(make_rapidpro):
    response = make_rapidpro(scopes=["send_sms"]).get(URL)
    assert response.status_code == 403


@pytest.mark.django_db
def test_creates_count_against_the_compat_send_limit(shop, rp, settings, redis_url, daytime):
    settings.COMPAT_SEND_RATE_LIMIT = "1/h"
    settings.SEND_RATE_LIMIT = "100/h"
    assert post(rp, {"text": "Hi", "urns": [f"tel:{UG}"]}).status_code == 201
    throttled = post(rp, {"text": "Hi", "urns": [f"tel:{KE}"]})
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert rp.get(URL).status_code == 200  # reads are not sends


@pytest.mark.django_db
def test_an_idempotency_key_replays_the_create(shop, rp, daytime):
    first = post(rp, {"text": "Hi", "urns": [f"tel:{UG}"]}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(rp, {"text": "Hi", "urns": [f"tel:{UG}"]}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Broadcast.objects.count() == 1


# --- the list -------------------------------------------------------------------------------------


def _at_status(shop, status):
    broadcast = shop.broadcast(shop.create(recipients=[UG]))
    Broadcast.objects.filter(pk=broadcast.pk).update(status=status)
    return broadcast


@pytest.mark.django_db
@pytest.mark.parametrize(("herald", "rapidpro"), sorted(STATUS.items()))
def test_statuses_are_mapped(shop, rp, daytime, herald, rapidpro):
    broadcast = _at_status(shop, herald)
    (body,) = only(rp)
    assert (body["uuid"], body["status"], body["herald"]["status"]) == (str(broadcast.pk), rapidpro, herald)


def test_the_status_table_is_complete():
    assert set(STATUS) | {"draft"} == set(Broadcast.Status.values)
    assert STATUS == {
        "scheduled": "pending", "queued": "queued", "sending": "started", "paused": "started", "sent": "completed",
        "partially_sent": "completed", "failed": "failed", "cancelled": "interrupted",
    }  # fmt: skip


@pytest.mark.django_db
def test_drafts_are_not_listed_and_a_native_broadcast_reads_in_rapidpros_shape(shop, rp, daytime):
    shop.create(recipients=[UG], status="draft")
    native = shop.broadcast(shop.create(recipients=[f"whatsapp:{UG}", KE], text="Hello {{first_name|there}}"))
    (body,) = only(rp)
    assert body["uuid"] == str(native.pk)
    assert body["text"] == {"eng": "Hello {{first_name|there}}"}  # one string: the client's language
    assert body["base_language"] == "eng"
    assert body["urns"] == [f"whatsapp:{UG[1:]}", f"tel:{KE}"]  # as given, in RapidPro's spelling
    assert body["contacts"] == []
    assert body["groups"] == []


@pytest.mark.django_db
def test_urns_and_contacts_are_capped_at_100(shop, rp, daytime):
    phones = [f"+2567720{n:05d}" for n in range(120)]
    contacts = [ContactFactory(client=shop.client) for _ in range(105)]
    response = shop.create(recipients=phones, contacts=[str(c.pk) for c in contacts])
    assert response.status_code == 201, response.content
    (body,) = only(rp)
    assert body["urns"] == [f"tel:{p}" for p in phones[:100]]
    assert [c["uuid"] for c in body["contacts"]] == [str(c.pk) for c in contacts[:100]]
    assert body["progress"] == {"total": 225, "started": 225}


@pytest.mark.django_db
def test_filters_uuid_id_before_after(shop, rp, daytime):
    first = shop.broadcast(shop.create(recipients=[UG]))
    daytime.shift(timedelta(minutes=5))
    second = shop.broadcast(shop.create(recipients=[KE]))
    assert [b["uuid"] for b in only(rp)] == [str(second.pk), str(first.pk)]
    assert [b["uuid"] for b in only(rp, uuid=str(first.pk))] == [str(first.pk)]
    assert only(rp, id="1") == []
    middle = (first.created_at + timedelta(minutes=2)).isoformat()
    assert [b["uuid"] for b in only(rp, before=middle)] == [str(first.pk)]
    assert [b["uuid"] for b in only(rp, after=middle)] == [str(second.pk)]
    assert [b["uuid"] for b in only(rp, after=first.created_at.isoformat())] == [str(second.pk), str(first.pk)]
    assert only(rp, before="last week") == []
    bad = rp.get(URL, {"uuid": "xyz"})
    assert (bad.status_code, bad.json()) == (400, {"detail": "Param 'uuid': xyz is not a valid UUID."})


@pytest.mark.django_db
def test_another_clients_broadcasts_are_invisible(shop, rp, make_shop, daytime):
    theirs = make_shop()
    their_broadcast = theirs.broadcast(theirs.create(recipients=[UG]))
    assert only(rp) == []
    assert only(rp, uuid=str(their_broadcast.pk)) == []


@pytest.mark.django_db
def test_pages_of_250_with_absolute_next_urls_keeping_filters(shop, rp, make_temba):
    now = timezone.now()
    Broadcast.objects.bulk_create(
        [Broadcast(client=shop.client, name=f"B{n}", status="sent", text={"eng": "x"}) for n in range(260)]
    )
    Broadcast.objects.filter(client=shop.client).update(created_at=now)  # ties: the id orders them
    after = (now - timedelta(days=1)).isoformat()
    first = rp.get(URL, {"after": after})
    body = first.json()
    assert len(body["results"]) == 250
    assert body["next"].startswith("http://testserver/api/v2/broadcasts.json?")
    assert "after=" in body["next"]
    assert "cursor=" in body["next"]
    second = rp.get(body["next"]).json()
    assert len(second["results"]) == 10
    assert second["next"] is None
    uuids = [b["uuid"] for b in body["results"] + second["results"]]
    assert len(set(uuids)) == 260
    assert uuids == [str(pk) for pk in Broadcast.objects.order_by("-created_at", "-pk").values_list("pk", flat=True)]
    # and the real client follows them
    temba = make_temba(rp)
    assert len(temba.get_broadcasts().all()) == 260


@pytest.mark.django_db
def test_the_real_client_creates_and_reads_broadcasts(shop, rp, make_temba, daytime):
    joe = ContactFactory(client=shop.client, phone=KE, first_name="Joe")
    ContactListFactory(client=shop.client, name="Reporters")
    temba = make_temba(rp)
    created = temba.create_broadcast("Hello @contact", urns=[f"tel:{UG}"], contacts=[str(joe.pk)], groups=["Reporters"])
    assert created.status == "queued"
    assert created.urns == [f"tel:{UG}"]
    assert [c.uuid for c in created.contacts] == [str(joe.pk)]
    assert [g.name for g in created.groups] == ["Reporters"]
    (listed,) = temba.get_broadcasts(uuid=created.uuid).all()
    assert listed.created_on == created.created_on
    from temba_client.exceptions import TembaBadRequestError

    with pytest.raises(TembaBadRequestError, match=r"Must provide either urns, contacts or groups\."):
        temba.create_broadcast("Hi")
