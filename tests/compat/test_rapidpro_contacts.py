"""SPEC §14, RapidPro v2 `contacts.json` (COMPAT.md §2.4): the contact object, its filters and
pages, create / update by `?uuid=` or `?urn=` / delete, every error in RapidPro's words, and the
Herald rules underneath (one phone per contact, tombstones, the field registry, tenancy, scopes)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlparse

import pytest
from django.utils import timezone

from broadcasts.models import Reply
from compat.rapidpro.base import format_datetime
from contacts.models import Contact, ContactField, ContactTombstone, OptOutSource
from contacts.services import contact_opt_out
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members

URL = "/api/v2/contacts.json"
NEEDS_URN = "Herald needs a tel:, whatsapp: or telegram: URN for each contact."
INVALID = "Invalid URN: {}. Ensure phone numbers contain country codes."

pytestmark = pytest.mark.django_db


def post(api, body, query=""):
    return api.post(f"{URL}{query}", body, format="json")


def q(value: str) -> str:
    return quote(value, safe="")


def created(response) -> Contact:
    assert response.status_code == 201, response.content
    return Contact.objects.get(pk=response.json()["uuid"])


# --- the contact object ------------------------------------------------------------------------------


def test_create_answers_rapidpros_contact_object(rapidpro):
    ContactField.objects.create(client=rapidpro.tenant, key="age", name="Age")
    reporters = ContactListFactory(client=rapidpro.tenant, name="Reporters")
    response = post(
        rapidpro,
        {
            "name": "Joe Blow",
            "language": "eng",
            "urns": ["tel:+256772123456"],
            "groups": ["reporters"],
            "fields": {"nickname": "Jo"},
        },
    )
    contact = created(response)
    assert response.json() == {
        "uuid": str(contact.pk),
        "name": "Joe Blow",
        "status": "active",
        "language": "eng",
        "urns": ["tel:+256772123456"],
        "groups": [{"uuid": str(reporters.pk), "name": "Reporters"}],
        "notes": [],
        "fields": {"age": None, "nickname": "Jo"},
        "flow": None,
        "created_on": format_datetime(contact.created_at),
        "modified_on": format_datetime(contact.updated_at),
        "last_seen_on": None,
        "blocked": False,
        "stopped": False,
    }
    assert (contact.first_name, contact.last_name, contact.phone) == ("Joe", "Blow", "+256772123456")
    assert contact.fields == {"nickname": "Jo"}


def test_a_contact_created_here_is_the_same_contact_in_the_native_api(rapidpro, make_api):
    contact = created(post(rapidpro, {"name": "Joe Blow", "urns": ["tel:0772123456"], "fields": {"team": "A"}}))
    native = make_api(client=rapidpro.tenant)
    body = native.get(f"/api/v1/contacts/{contact.pk}/").json()
    assert (body["id"], body["first_name"], body["last_name"]) == (str(contact.pk), "Joe", "Blow")
    assert (body["phone"], body["fields"]) == ("+256772123456", {"team": "A"})
    native.patch(f"/api/v1/contacts/{contact.pk}/", {"first_name": "Jim"}, format="json")
    assert rapidpro.get(f"{URL}?uuid={contact.pk}").json()["results"][0]["name"] == "Jim Blow"


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Joe Blow", "Joe", "Blow"),
        ("  Mary   Jane Watson ", "Mary", "Jane Watson"),
        ("Cher", "Cher", ""),
        ("Ana\tMaria", "Ana", "Maria"),
    ],
)
def test_a_name_is_split_at_its_first_run_of_whitespace(rapidpro, name, first, last):
    contact = created(post(rapidpro, {"name": name, "urns": ["tel:+256772123456"]}))
    assert (contact.first_name, contact.last_name) == (first, last)


@pytest.mark.parametrize(
    ("urns", "phone", "telegram", "shown"),
    [
        (["whatsapp:256772123456"], "+256772123456", None, ["whatsapp:256772123456"]),
        (["whatsapp:+256772123456"], "+256772123456", None, ["whatsapp:256772123456"]),
        (["tel:0772123456"], "+256772123456", None, ["tel:+256772123456"]),
        (
            ["tel:+256772123456", "whatsapp:256772123456"],
            "+256772123456",
            None,
            ["tel:+256772123456", "whatsapp:256772123456"],
        ),
        (["telegram:123456789"], None, "123456789", ["telegram:123456789"]),
        (
            ["TEL:+256772123456", "telegram:42"],
            "+256772123456",
            "42",
            ["tel:+256772123456", "telegram:42"],
        ),
    ],
)
def test_urns_are_stored_as_herald_addresses_and_read_back_in_rapidpro_spelling(rapidpro, urns, phone, telegram, shown):
    response = post(rapidpro, {"urns": urns})
    contact = created(response)
    assert (contact.phone, contact.telegram_chat_id) == (phone, telegram)
    assert response.json()["urns"] == shown
    assert rapidpro.get(f"{URL}?uuid={contact.pk}").json()["results"][0]["urns"] == shown


def test_status_blocked_and_stopped_come_from_the_opt_out_and_its_source(rapidpro):
    active = ContactFactory(client=rapidpro.tenant)
    stopped = contact_opt_out(contact=ContactFactory(client=rapidpro.tenant), source=OptOutSource.KEYWORD)
    blocked = contact_opt_out(contact=ContactFactory(client=rapidpro.tenant), source=OptOutSource.BLOCK)
    results = {r["uuid"]: r for r in rapidpro.get(URL).json()["results"]}
    shown = {key: (r["status"], r["blocked"], r["stopped"]) for key, r in results.items()}
    assert shown == {
        str(active.pk): ("active", False, False),
        str(stopped.pk): ("stopped", False, True),
        str(blocked.pk): ("blocked", True, False),
    }


def test_fields_list_every_registered_key_and_the_contacts_other_keys(rapidpro):
    ContactField.objects.create(client=rapidpro.tenant, key="nickname", name="Nickname")
    ContactField.objects.create(client=rapidpro.tenant, key="age", name="Age")
    ContactField.objects.create(client=ClientFactory(), key="theirs", name="Theirs")
    contact = ContactFactory(client=rapidpro.tenant, fields={"nickname": "Jo", "imported": "x"})
    body = rapidpro.get(f"{URL}?uuid={contact.pk}").json()["results"][0]
    assert body["fields"] == {"age": None, "nickname": "Jo", "imported": "x"}


def test_the_database_rendered_object_keeps_rapidpros_key_order_and_formats(rapidpro):
    # The contact object is rendered by PostgreSQL (contact_values.CONTACT_DOCUMENT): pin what a
    # Python dict would have given — key order, field order (registered, then the rest in code-point
    # order), null names, six fractional digits even when the microseconds are 0, groups in join order.
    ContactField.objects.create(client=rapidpro.tenant, key="zone", name="Zone")
    ContactField.objects.create(client=rapidpro.tenant, key="age", name="Age")
    contact = ContactFactory(
        client=rapidpro.tenant, first_name="", last_name="", fields={"b_x": 1, "a_x": [1], "age": "3", "B_x": None}
    )
    later, first = ContactListFactory(client=rapidpro.tenant, name="Z"), ContactListFactory(client=rapidpro.tenant)
    add_members(later, contact)
    add_members(first, contact)
    whole = timezone.now().replace(microsecond=0)
    Contact.objects.filter(pk=contact.pk).update(created_at=whole)
    body = rapidpro.get(f"{URL}?uuid={contact.pk}").json()["results"][0]
    assert list(body) == [
        "uuid", "name", "status", "language", "urns", "groups", "notes", "fields", "flow", "created_on",
        "modified_on", "last_seen_on", "blocked", "stopped",
    ]  # fmt: skip
    assert body["name"] is None
    assert list(body["fields"].items()) == [("age", "3"), ("zone", None), ("B_x", None), ("a_x", [1]), ("b_x", 1)]
    assert body["created_on"] == format_datetime(whole)
    assert body["created_on"].endswith(".000000Z")
    assert [g["uuid"] for g in body["groups"]] == [str(later.pk), str(first.pk)]


def test_last_seen_on_is_the_newest_reply(rapidpro):
    contact = ContactFactory(client=rapidpro.tenant)
    newest = timezone.now() - timedelta(hours=1)
    for at in (newest - timedelta(days=2), newest):
        Reply.objects.create(client=rapidpro.tenant, contact=contact, urn="tel:x", channel="sms", received_at=at)
    assert rapidpro.get(URL).json()["results"][0]["last_seen_on"] == format_datetime(newest)


def test_a_page_costs_a_fixed_number_of_queries(rapidpro, django_assert_max_num_queries):
    group = ContactListFactory(client=rapidpro.tenant)
    contacts = [ContactFactory(client=rapidpro.tenant) for _ in range(30)]
    add_members(group, *contacts)
    with django_assert_max_num_queries(8):
        response = rapidpro.get(URL)
    assert len(response.json()["results"]) == 30
    assert all(r["groups"] == [{"uuid": str(group.pk), "name": group.name}] for r in response.json()["results"])


# --- GET filters, order and pages -----------------------------------------------------------------------


def _uuids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["uuid"] for r in response.json()["results"]]


def _aged(client, count):
    """Contacts modified one minute apart, oldest first."""
    now = timezone.now()
    contacts = [ContactFactory(client=client) for _ in range(count)]
    for i, contact in enumerate(contacts):
        Contact.objects.filter(pk=contact.pk).update(updated_at=now - timedelta(minutes=count - i))
        contact.refresh_from_db()
    return contacts


def test_order_is_last_modified_first_and_reverse_turns_it(rapidpro):
    one, two, three = _aged(rapidpro.tenant, 3)
    assert _uuids(rapidpro.get(URL)) == [str(three.pk), str(two.pk), str(one.pk)]
    assert _uuids(rapidpro.get(f"{URL}?reverse=1")) == [str(one.pk), str(two.pk), str(three.pk)]
    assert _uuids(rapidpro.get(f"{URL}?reverse=true")) == [str(one.pk), str(two.pk), str(three.pk)]


def test_before_and_after_bound_modified_on(rapidpro):
    one, two, three = _aged(rapidpro.tenant, 3)
    assert _uuids(rapidpro.get(f"{URL}?before={q(format_datetime(two.updated_at))}")) == [str(two.pk), str(one.pk)]
    assert _uuids(rapidpro.get(f"{URL}?after={q(format_datetime(two.updated_at))}")) == [str(three.pk), str(two.pk)]
    assert _uuids(rapidpro.get(f"{URL}?after=yesterday")) == []


def test_filter_by_uuid(rapidpro):
    one, _ = ContactFactory(client=rapidpro.tenant), ContactFactory(client=rapidpro.tenant)
    assert _uuids(rapidpro.get(f"{URL}?uuid={one.pk}")) == [str(one.pk)]
    response = rapidpro.get(f"{URL}?uuid=xyz")
    assert (response.status_code, response.json()) == (400, {"detail": "Param 'uuid': xyz is not a valid UUID."})


@pytest.mark.parametrize("urn", ["tel:0772123456", "tel:+256-772-123456", "whatsapp:256772123456"])
def test_filter_by_urn_normalizes_it(rapidpro, urn):
    joe = ContactFactory(client=rapidpro.tenant, phone="+256772123456")
    ContactFactory(client=rapidpro.tenant)
    assert _uuids(rapidpro.get(f"{URL}?urn={q(urn)}")) == [str(joe.pk)]


def test_filter_by_telegram_urn(rapidpro):
    joe = ContactFactory(client=rapidpro.tenant, phone=None, telegram_chat_id="777")
    assert _uuids(rapidpro.get(f"{URL}?urn=telegram:777")) == [str(joe.pk)]


def test_an_invalid_urn_filter_is_rapidpros_400_and_another_scheme_finds_nothing(rapidpro):
    ContactFactory(client=rapidpro.tenant)
    response = rapidpro.get(f"{URL}?urn=12345")
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid URN: 12345"})
    assert _uuids(rapidpro.get(f"{URL}?urn=twitter:joe")) == []


def test_filter_by_group_name_or_uuid_and_an_unknown_group_is_empty(rapidpro):
    group = ContactListFactory(client=rapidpro.tenant, name="Customers")
    member, _ = ContactFactory(client=rapidpro.tenant), ContactFactory(client=rapidpro.tenant)
    add_members(group, member)
    theirs = ContactListFactory(name="Customers")
    assert _uuids(rapidpro.get(f"{URL}?group=Customers")) == [str(member.pk)]
    assert _uuids(rapidpro.get(f"{URL}?group={group.pk}")) == [str(member.pk)]
    assert _uuids(rapidpro.get(f"{URL}?group=invalid")) == []
    assert _uuids(rapidpro.get(f"{URL}?group={theirs.pk}")) == []


def test_another_clients_contacts_are_invisible(rapidpro):
    mine = ContactFactory(client=rapidpro.tenant)
    theirs = ContactFactory()
    assert _uuids(rapidpro.get(URL)) == [str(mine.pk)]
    assert _uuids(rapidpro.get(f"{URL}?uuid={theirs.pk}")) == []


def test_pages_of_250_with_an_absolute_next_that_keeps_the_filters(rapidpro):
    group = ContactListFactory(client=rapidpro.tenant, name="Big")
    contacts = _aged(rapidpro.tenant, 260)
    add_members(group, *contacts)
    ContactFactory(client=rapidpro.tenant)  # not in the group
    first = rapidpro.get(f"{URL}?group=Big")
    body = first.json()
    assert len(body["results"]) == 250
    assert body["previous"] is None
    parts = urlparse(body["next"])
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", URL)
    query = parse_qs(parts.query)
    assert query["group"] == ["Big"]
    assert query["cursor"]
    second = rapidpro.get(body["next"]).json()
    assert len(second["results"]) == 10
    assert second["next"] is None
    seen = [r["uuid"] for r in body["results"] + second["results"]]
    assert seen == [str(c.pk) for c in reversed(contacts)]


# --- deleted contacts ----------------------------------------------------------------------------------


def test_deleted_lists_tombstones_as_rapidpro_renders_deleted_contacts(rapidpro):
    kept, gone = ContactFactory(client=rapidpro.tenant), ContactFactory(client=rapidpro.tenant)
    assert rapidpro.delete(f"{URL}?uuid={gone.pk}").status_code == 204
    tombstone = ContactTombstone.objects.get(contact_id=gone.pk)
    response = rapidpro.get(f"{URL}?deleted=1")
    assert response.json()["results"] == [
        {
            "uuid": str(gone.pk),
            "name": None,
            "status": None,
            "language": None,
            "urns": [],
            "groups": [],
            "notes": [],
            "fields": {},
            "flow": None,
            "created_on": format_datetime(gone.created_at),
            "modified_on": format_datetime(tombstone.deleted_at),
            "last_seen_on": None,
            "blocked": None,
            "stopped": None,
        }
    ]
    assert _uuids(rapidpro.get(f"{URL}?deleted=0")) == [str(kept.pk)]
    assert _uuids(rapidpro.get(f"{URL}?deleted=true&uuid={gone.pk}")) == [str(gone.pk)]
    assert _uuids(rapidpro.get(f"{URL}?deleted=true&uuid={kept.pk}")) == []
    assert _uuids(rapidpro.get(f"{URL}?deleted=true&urn=tel:{gone.phone}")) == []


def test_deleted_contacts_order_and_after(rapidpro):
    contacts = [ContactFactory(client=rapidpro.tenant) for _ in range(3)]
    for contact in contacts:
        rapidpro.delete(f"{URL}?uuid={contact.pk}")
    ids = [str(c.pk) for c in contacts]
    assert _uuids(rapidpro.get(f"{URL}?deleted=1")) == ids[::-1]
    assert _uuids(rapidpro.get(f"{URL}?deleted=1&reverse=1")) == ids
    second = ContactTombstone.objects.get(contact_id=contacts[1].pk).deleted_at
    assert _uuids(rapidpro.get(f"{URL}?deleted=1&after={q(format_datetime(second))}")) == ids[:0:-1]
    other = ContactFactory()
    rapidpro.delete(f"{URL}?uuid={other.pk}")  # another client's: 404, and never listed
    assert str(other.pk) not in _uuids(rapidpro.get(f"{URL}?deleted=1"))


# --- create: errors in RapidPro's words -------------------------------------------------------------------


def _error(response):
    assert response.status_code == 400, response.content
    return response.json()


def test_a_body_that_is_not_an_object_is_refused(rapidpro):
    assert _error(post(rapidpro, [])) == {"non_field_errors": ["Request body should be a single JSON object"]}


def test_every_bad_value_is_named_at_once_and_nothing_is_written(rapidpro):
    body = {
        "name": "Jim",
        "language": "xyz",
        "urns": ["1234556789"],
        "groups": ["59686b4e-14bc-4160-9376-b649b218c806"],
        "fields": {"hmm m": "X"},
    }
    assert _error(post(rapidpro, body)) == {
        "language": ["Not a valid ISO639-3 language code."],
        "urns": {"0": [INVALID.format("1234556789")]},
        "groups": ["No such object: 59686b4e-14bc-4160-9376-b649b218c806"],
        "fields": ["Invalid contact field key: hmm m"],
    }
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Ensure this field has at least 3 characters."),
        ("english", "Ensure this field has no more than 3 characters."),
        ("xyz", "Not a valid ISO639-3 language code."),
        ("", "This field may not be blank."),
        (["eng"], "Not a valid string."),
    ],
)
def test_language_must_be_an_iso639_3_code(rapidpro, language, message):
    body = {"urns": ["tel:+256772123456"], "language": language}
    assert _error(post(rapidpro, body)) == {"language": [message]}


def test_language_is_stored_and_null_leaves_none(rapidpro):
    assert created(post(rapidpro, {"urns": ["tel:+256772123456"], "language": "FRA"})).language == "fra"
    assert created(post(rapidpro, {"urns": ["tel:+256772123457"], "language": None})).language is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x" * 65, "Ensure this field has no more than 64 characters."),
        ("", "This field may not be blank."),
        ({"first": "Jo"}, "Not a valid string."),
    ],
)
def test_name_is_at_most_64_characters(rapidpro, name, message):
    assert _error(post(rapidpro, {"urns": ["tel:+256772123456"], "name": name})) == {"name": [message]}


def test_a_name_of_64_characters_is_taken(rapidpro):
    contact = created(post(rapidpro, {"urns": ["tel:+256772123456"], "name": "x" * 64}))
    assert contact.name == "x" * 64


@pytest.mark.parametrize(
    ("urns", "errors"),
    [
        (
            ["tel:+256772123456", "facebook:12345"],
            {"1": ["Unsupported URN scheme: facebook. Herald sends to tel:, whatsapp: and telegram: URNs."]},
        ),
        (["tel:12345"], {"0": [INVALID.format("tel:12345")]}),
        (["whatsapp:abc"], {"0": [INVALID.format("whatsapp:abc")]}),
        (["telegram:abc"], {"0": [INVALID.format("telegram:abc")]}),
        (["tel:+256772123456", "tel:+256772123457"], {"1": ["Herald stores one phone number per contact."]}),
        (["tel:+256772123456", "whatsapp:256772123457"], {"1": ["Herald stores one phone number per contact."]}),
        (["telegram:1", "telegram:2"], {"1": ["Herald stores one Telegram chat id per contact."]}),
        ([None], {"0": ["Not a valid string."]}),
    ],
)
def test_each_bad_urn_is_named_by_its_index(rapidpro, urns, errors):
    assert _error(post(rapidpro, {"urns": urns})) == {"urns": errors}
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("urns", "message"),
    [
        ([f"tel:+2567721{i:05d}" for i in range(101)], "Ensure this field has no more than 100 elements."),
        ("tel:+256772123456", 'Expected a list of items but got type "str".'),
        (None, "This field may not be null."),
    ],
)
def test_urns_must_be_a_list_of_at_most_100(rapidpro, urns, message):
    assert _error(post(rapidpro, {"urns": urns})) == {"urns": [message]}


def test_a_contact_without_urns_is_refused_in_herald(rapidpro):
    assert _error(post(rapidpro, {"name": "Jaqen"})) == {"urns": [NEEDS_URN]}
    assert _error(post(rapidpro, {"urns": []})) == {"urns": [NEEDS_URN]}


@pytest.mark.parametrize(
    ("existing", "urns", "index"),
    [
        ({"phone": "+256772123456"}, ["tel:0772123456"], "0"),
        ({"phone": "+256772123456"}, ["telegram:5", "whatsapp:256772123456"], "1"),
        ({"phone": None, "telegram_chat_id": "5"}, ["tel:+256772123457", "telegram:5"], "1"),
    ],
)
def test_a_urn_in_use_by_another_contact_is_named_by_its_index(rapidpro, existing, urns, index):
    ContactFactory(client=rapidpro.tenant, **existing)
    assert _error(post(rapidpro, {"urns": urns})) == {"urns": {index: ["URN is in use by another contact."]}}
    assert Contact.objects.count() == 1


def test_another_clients_phone_is_free(rapidpro):
    ContactFactory(phone="+256772123456")
    assert post(rapidpro, {"urns": ["tel:+256772123456"]}).status_code == 201


def test_groups_are_found_by_uuid_or_name_case_insensitively(rapidpro):
    one = ContactListFactory(client=rapidpro.tenant, name="Reporters")
    two = ContactListFactory(client=rapidpro.tenant, name="Farmers")
    contact = created(post(rapidpro, {"urns": ["tel:+256772123456"], "groups": ["REPORTERS", str(two.pk)]}))
    assert set(contact.lists.values_list("pk", flat=True)) == {one.pk, two.pk}
    assert one.__class__.objects.get(pk=one.pk).contact_count == 1


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (["Nope"], "No such object: Nope"),
        ([{"uuid": "x"}], "Must be a string or integer"),
        ([f"g{i}" for i in range(101)], "Ensure this field has no more than 100 elements."),
        (None, "This field may not be null."),
    ],
)
def test_bad_groups(rapidpro, groups, message):
    assert _error(post(rapidpro, {"urns": ["tel:+256772123456"], "groups": groups})) == {"groups": [message]}


def test_another_clients_group_is_no_such_object(rapidpro):
    theirs = ContactListFactory(name="Theirs")
    body = {"urns": ["tel:+256772123456"], "groups": [str(theirs.pk)]}
    assert _error(post(rapidpro, body)) == {"groups": [f"No such object: {theirs.pk}"]}


def test_a_new_valid_field_key_is_registered_and_a_registered_one_is_taken(rapidpro):
    ContactField.objects.create(client=rapidpro.tenant, key="nick_name", name="Nick Name")
    contact = created(post(rapidpro, {"urns": ["tel:+256772123456"], "fields": {"nick_name": "Jo", "team_2": "B"}}))
    assert contact.fields == {"nick_name": "Jo", "team_2": "B"}
    registry = {f.key: (f.name, f.type) for f in ContactField.objects.filter(client=rapidpro.tenant)}
    assert registry == {"nick_name": ("Nick Name", "text"), "team_2": ("Team 2", "text")}
    assert not ContactField.objects.exclude(client=rapidpro.tenant).exists()


@pytest.mark.parametrize("key", ["has", "urns", "created_on", "Nickname", "1st", "nick name", "x" * 37])
def test_an_unusable_field_key_is_an_invalid_contact_field_key(rapidpro, key):
    body = {"urns": ["tel:+256772123456"], "fields": {key: "x"}}
    assert _error(post(rapidpro, body)) == {"fields": [f"Invalid contact field key: {key}"]}
    assert not ContactField.objects.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "Not a valid string."),
        ({"a": 1}, "Not a valid string."),
        ("x" * 641, "Ensure this field has no more than 640 characters."),
    ],
)
def test_bad_field_values_are_named_by_key(rapidpro, value, message):
    body = {"urns": ["tel:+256772123456"], "fields": {"nickname": value}}
    assert _error(post(rapidpro, body)) == {"fields": {"nickname": [message]}}


def test_a_nul_character_is_refused_before_anything_is_read(rapidpro):
    body = {"urns": ["tel:+256772123456"], "fields": {"nickname": "a\x00b"}}
    assert _error(post(rapidpro, body)) == {"fields.nickname": ["The NUL character (\\u0000) is not allowed."]}


def test_fields_must_be_an_object_of_at_most_100(rapidpro):
    many = {f"f{i}": "x" for i in range(101)}
    assert _error(post(rapidpro, {"urns": ["tel:+256772123456"], "fields": many})) == {
        "fields": ["Ensure this field has no more than 100 elements."]
    }
    assert _error(post(rapidpro, {"urns": ["tel:+256772123456"], "fields": ["a"]})) == {
        "fields": ['Expected a dictionary of items but got type "list".']
    }


def test_numbers_are_taken_as_their_text_and_empty_values_are_not_set(rapidpro):
    body = {"urns": ["tel:+256772123456"], "fields": {"age": 34, "nickname": "", "team": None}}
    assert created(post(rapidpro, body)).fields == {"age": "34"}


def test_a_note_is_accepted_and_ignored(rapidpro):
    assert post(rapidpro, {"urns": ["tel:+256772123456"], "note": "VIP"}).status_code == 201


# --- update --------------------------------------------------------------------------------------------


@pytest.fixture
def jean(rapidpro):
    group = ContactListFactory(client=rapidpro.tenant, name="Customers")
    response = post(
        rapidpro,
        {
            "name": "Jean Dupont",
            "language": "fra",
            "urns": ["tel:+256772000001"],
            "groups": [str(group.pk)],
            "fields": {"nickname": "Jado", "gender": "m"},
        },
    )
    return created(response)


def test_update_by_uuid_with_an_empty_body_changes_nothing(rapidpro, jean):
    before = rapidpro.get(f"{URL}?uuid={jean.pk}").json()["results"][0]
    response = post(rapidpro, {}, f"?uuid={jean.pk}")
    assert response.status_code == 200
    after = response.json()
    assert {k: v for k, v in after.items() if k != "modified_on"} == {
        k: v for k, v in before.items() if k != "modified_on"
    }


def test_update_changes_only_the_given_keys(rapidpro, jean):
    response = post(rapidpro, {"name": "Jason Undead", "fields": {"nickname": "Žan", "gender": ""}}, f"?uuid={jean.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["language"], body["urns"]) == ("Jason Undead", "fra", ["tel:+256772000001"])
    assert body["fields"] == {"gender": None, "nickname": "Žan"}
    assert [g["name"] for g in body["groups"]] == ["Customers"]
    jean.refresh_from_db()
    assert (jean.first_name, jean.last_name, jean.fields) == ("Jason", "Undead", {"nickname": "Žan"})


def test_update_replaces_urns_and_groups_and_null_clears_name_and_language(rapidpro, jean):
    body = {"name": None, "language": None, "urns": ["whatsapp:256772000002"], "groups": []}
    response = post(rapidpro, body, f"?uuid={jean.pk}")
    assert response.status_code == 200, response.content
    shown = response.json()
    assert (shown["name"], shown["language"], shown["urns"], shown["groups"]) == (
        None,
        None,
        ["whatsapp:256772000002"],
        [],
    )
    jean.refresh_from_db()
    assert (jean.phone, jean.urn_schemes, jean.lists.count()) == ("+256772000002", ["whatsapp"], 0)


def test_update_to_no_urns_is_refused(rapidpro, jean):
    assert _error(post(rapidpro, {"urns": []}, f"?uuid={jean.pk}")) == {"urns": [NEEDS_URN]}


def test_update_to_a_urn_in_use_is_refused(rapidpro, jean):
    ContactFactory(client=rapidpro.tenant, phone="+256772000009")
    response = post(rapidpro, {"urns": ["tel:+256772000009"]}, f"?uuid={jean.pk}")
    assert _error(response) == {"urns": {"0": ["URN is in use by another contact."]}}


def test_update_by_urn_is_normalized(rapidpro, jean):
    response = post(rapidpro, {"name": "Jean III"}, f"?urn={q('tel:0772-000001')}")
    assert response.status_code == 200
    assert response.json()["uuid"] == str(jean.pk)
    jean.refresh_from_db()
    assert jean.name == "Jean III"


def test_urns_are_not_allowed_with_a_urn_in_the_url(rapidpro, jean):
    response = post(rapidpro, {"urns": ["tel:+256772000005"]}, f"?urn={q('tel:+256772000001')}")
    assert _error(response) == {"urns": ["Field not allowed when using URN in URL"]}
    response = post(rapidpro, {"urns": ["tel:+256772000005"]}, f"?urn={q('tel:+256772000006')}")
    assert _error(response) == {"urns": ["Field not allowed when using URN in URL"]}


@pytest.mark.parametrize(
    ("urn", "shown"),
    [("tel:+256-772-000005", "tel:+256772000005"), ("whatsapp:256772000005", "whatsapp:256772000005")],
)
def test_update_by_an_unknown_urn_creates_the_contact(rapidpro, urn, shown):
    response = post(rapidpro, {"name": "Bobby"}, f"?urn={q(urn)}")
    contact = created(response)
    assert (contact.name, response.json()["urns"]) == ("Bobby", [shown])


def test_update_by_a_urn_of_a_scheme_herald_lacks_cannot_create(rapidpro):
    response = post(rapidpro, {"name": "Bobby"}, "?urn=twitter:bobby")
    assert _error(response) == {
        "detail": "Unsupported URN scheme: twitter. Herald sends to tel:, whatsapp: and telegram: URNs."
    }


def test_update_of_an_unknown_or_another_clients_contact_is_a_404(rapidpro):
    theirs = ContactFactory()
    for query in (f"?uuid={uuid.uuid4()}", f"?uuid={theirs.pk}"):
        response = post(rapidpro, {"name": "X"}, query)
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    theirs.refresh_from_db()
    assert theirs.first_name != "X"


def test_another_clients_urn_creates_a_contact_of_ones_own(rapidpro):
    theirs = ContactFactory(phone="+256772000007")
    contact = created(post(rapidpro, {"name": "Mine"}, f"?urn={q('tel:+256772000007')}"))
    assert contact.client == rapidpro.tenant
    assert contact.pk != theirs.pk


def test_update_lookup_errors(rapidpro, jean):
    response = post(rapidpro, {}, f"?uuid={jean.pk}&urn={q('tel:+256772000001')}")
    assert _error(response) == {"detail": "URL can only contain one of the following parameters: urn, uuid"}
    assert _error(post(rapidpro, {}, "?uuid=nope")) == {"detail": "Param 'uuid': nope is not a valid UUID."}
    assert _error(post(rapidpro, {}, "?urn=12345")) == {"detail": "Invalid URN: 12345"}


def test_a_blocked_or_stopped_contact_cannot_be_put_in_groups(rapidpro, jean):
    group = ContactListFactory(client=rapidpro.tenant)
    contact_opt_out(contact=jean, source=OptOutSource.BLOCK)
    response = post(rapidpro, {"groups": [str(group.pk)]}, f"?uuid={jean.pk}")
    assert _error(response) == {"groups": ["Non-active contacts can't be added to groups"]}
    assert post(rapidpro, {"groups": []}, f"?uuid={jean.pk}").status_code == 200


# --- delete --------------------------------------------------------------------------------------------


def test_delete_by_uuid_leaves_a_tombstone(rapidpro, jean):
    response = rapidpro.delete(f"{URL}?uuid={jean.pk}")
    assert (response.status_code, response.content) == (204, b"")
    assert not Contact.objects.filter(pk=jean.pk).exists()
    tombstone = ContactTombstone.objects.get(contact_id=jean.pk)
    assert (tombstone.client, tombstone.contact_created_at) == (rapidpro.tenant, jean.created_at)


def test_delete_by_urn(rapidpro, jean):
    assert rapidpro.delete(f"{URL}?urn={q('tel:0772000001')}").status_code == 204
    assert not Contact.objects.filter(pk=jean.pk).exists()


@pytest.mark.parametrize("query", ["", "?uuid=", "?name=x"])
def test_delete_without_a_lookup_is_a_400(rapidpro, jean, query):
    response = rapidpro.delete(f"{URL}{query}")
    assert _error(response) == {"detail": "URL must contain one of the following parameters: urn, uuid"}


def test_delete_of_unknown_or_another_clients_contact_is_a_404(rapidpro):
    theirs = ContactFactory(phone="+256772000008")
    for query in (f"?uuid={uuid.uuid4()}", f"?uuid={theirs.pk}", f"?urn={q('tel:+256772000008')}", "?urn=twitter:x"):
        response = rapidpro.delete(f"{URL}{query}")
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    assert Contact.objects.filter(pk=theirs.pk).exists()
    assert not ContactTombstone.objects.exists()


def test_delete_with_an_invalid_urn_is_a_400(rapidpro):
    assert _error(rapidpro.delete(f"{URL}?urn=12345")) == {"detail": "Invalid URN: 12345"}


# --- scopes ----------------------------------------------------------------------------------------------


FORBIDDEN = {"detail": "You do not have permission to perform this action."}


def test_writes_need_the_contacts_scope(make_rapidpro):
    api = make_rapidpro(scopes=["read", "send_sms"])
    contact = ContactFactory(client=api.tenant)
    for response in (
        post(api, {"urns": ["tel:+256772123456"]}),
        post(api, {"name": "X"}, f"?uuid={contact.pk}"),
        api.delete(f"{URL}?uuid={contact.pk}"),
    ):
        assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert Contact.objects.count() == 1
    assert api.get(URL).status_code == 200


def test_reads_need_the_read_scope(make_rapidpro):
    api = make_rapidpro(scopes=["contacts"])
    response = api.get(URL)
    assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert post(api, {"urns": ["tel:+256772123456"]}).status_code == 201


def test_the_path_without_json_answers_too(rapidpro):
    contact = ContactFactory(client=rapidpro.tenant)
    assert _uuids(rapidpro.get("/api/v2/contacts")) == [str(contact.pk)]
