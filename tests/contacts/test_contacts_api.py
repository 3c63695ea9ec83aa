"""/api/v1/contacts/: create, read, update, delete, opt-out/in, filters, pagination, tenancy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from contacts.models import Contact, ContactList, ContactListMembership, OptOutSource
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/"
FIELDS = {
    "id",
    "phone",
    "telegram_chat_id",
    "first_name",
    "last_name",
    "language",
    "timezone",
    "fields",
    "lists",
    "opted_out",
    "opted_out_at",
    "created_at",
    "updated_at",
}


def snapshot():
    """Everything the contacts API can change, to prove a refused request changed nothing."""
    return (
        sorted(Contact.objects.values_list("id", "phone", "telegram_chat_id", "first_name", "fields", "opted_out")),
        sorted(ContactList.objects.values_list("id", "contact_count")),
        sorted(ContactListMembership.objects.values_list("contact_list_id", "contact_id")),
    )


# --- create ------------------------------------------------------------------------------------------


def test_create_parses_a_national_number_with_the_clients_country(api):
    vip = ContactListFactory(client=api.tenant)
    response = api.post(
        URL,
        {
            "phone": "0772 123 456",
            "first_name": " Amina ",
            "last_name": "Nakato",
            "language": "en",
            "fields": {"param1": "Kampala", "score": 7},
            "lists": [str(vip.id)],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    contact = Contact.objects.get(pk=body["id"])
    assert contact.client == api.tenant
    assert body["phone"] == "+256772123456"
    assert body["first_name"] == "Amina"
    assert body["language"] == "eng"
    assert body["fields"] == {"param1": "Kampala", "score": "7"}
    assert body["lists"] == [str(vip.id)]
    assert body["opted_out"] is False
    assert body["opted_out_at"] is None
    vip.refresh_from_db()
    assert vip.contact_count == 1


@pytest.mark.parametrize(
    ("payload", "phone", "telegram"),
    [
        ({"phone": "tel:+33612345678"}, "+33612345678", None),
        ({"phone": "whatsapp:+254712000101"}, "+254712000101", None),
        ({"telegram_chat_id": "123456789"}, None, "123456789"),
        ({"telegram_chat_id": 123456789}, None, "123456789"),
        ({"telegram_chat_id": "telegram:987"}, None, "987"),
        ({"phone": "+256772123456", "telegram_chat_id": "-100123"}, "+256772123456", "-100123"),
    ],
)
def test_create_with_urns_or_a_telegram_chat_id(api, payload, phone, telegram):
    body = api.post(URL, payload, format="json").json()
    assert (body["phone"], body["telegram_chat_id"]) == (phone, telegram)


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"phone": "+2567721"}, "phone", "too_short"),
        ({"phone": "+25677212345678"}, "phone", "too_long"),
        ({"phone": "call me"}, "phone", "not_a_number"),
        ({"phone": "+999 123 4567"}, "phone", "unknown_country_code"),
        ({"phone": "+256 100 123456"}, "phone", "invalid_number"),
        ({"phone": "telegram:123"}, "phone", "invalid_urn"),
        ({"phone": "fax:+256772123456"}, "phone", "invalid_urn"),
        ({"phone": 256772123456}, "phone", None),  # DRF takes it as text: then it is valid
        ({}, "phone", "required"),
        ({"phone": "", "telegram_chat_id": None}, "phone", "required"),
        ({"telegram_chat_id": "abc"}, "telegram_chat_id", "invalid_urn"),
        ({"phone": "+256772123456", "language": "no such tongue"}, "language", "invalid_language"),
        ({"phone": "+256772123456", "fields": {"Param-1": "x"}}, "fields.Param-1", "invalid_field_key"),
        ({"phone": "+256772123456", "fields": {"ok": {"a": 1}}}, "fields.ok", "invalid_field_value"),
        ({"phone": "+256772123456", "fields": ["param1"]}, "fields", None),
        ({"phone": "+256772123456", "first_name": "x" * 129}, "first_name", "max_length"),
        ({"phone": "+256772123456", "lists": ["not-a-uuid"]}, "lists.0", "invalid"),
    ],
)
def test_bad_contacts_get_400_naming_the_field_and_create_nothing(api, payload, field, code):
    before = snapshot()
    response = api.post(URL, payload, format="json")
    if field == "phone" and code is None:
        assert response.status_code == 201
        return
    error = assert_error(response, 400, "invalid_request_error", code)
    assert field in error["fields"], error
    assert snapshot() == before


def test_a_bad_phone_says_why(api):
    error = assert_error(api.post(URL, {"phone": "+2567721"}, format="json"), 400, "invalid_request_error")
    assert error["fields"] == {"phone": ["Too short for a phone number in Uganda."]}
    assert error["message"] == "phone: Too short for a phone number in Uganda."


def test_every_bad_field_is_named_at_once(api):
    error = assert_error(
        api.post(URL, {"phone": "x1", "language": "zz", "fields": {"A": "b"}}, format="json"),
        400,
        "invalid_request_error",
    )
    assert set(error["fields"]) == {"phone", "language", "fields.A"}


@pytest.mark.parametrize("phone", ["+256772123456", "0772123456", "tel:+256 772 123 456"])
def test_a_duplicate_phone_is_a_conflict_and_changes_nothing(api, phone):
    existing = ContactFactory(client=api.tenant, phone="+256772123456")
    before = snapshot()
    error = assert_error(api.post(URL, {"phone": phone}, format="json"), 409, "conflict", "duplicate_phone")
    assert error["fields"] == {"phone": [f"Another contact ({existing.id}) already has this phone."]}
    assert snapshot() == before


def test_a_duplicate_telegram_chat_id_is_a_conflict(api):
    ContactFactory(client=api.tenant, phone=None, telegram_chat_id="42")
    before = snapshot()
    assert_error(
        api.post(URL, {"telegram_chat_id": "42"}, format="json"), 409, "conflict", "duplicate_telegram_chat_id"
    )
    assert snapshot() == before


def test_the_same_phone_is_fine_for_another_client(api):
    ContactFactory(phone="+256772123456")  # another client's
    assert api.post(URL, {"phone": "+256772123456"}, format="json").status_code == 201


def test_unknown_or_other_clients_lists_are_404_and_create_nothing(api):
    theirs = ContactListFactory()
    before = snapshot()
    for list_id in [str(theirs.id), "00000000-0000-0000-0000-000000000000"]:
        error = assert_error(
            api.post(URL, {"phone": "+256772123456", "lists": [list_id]}, format="json"),
            404,
            "not_found",
            "contact_list_not_found",
        )
        assert error["fields"] == {"lists": [f"Unknown contact list id: {list_id}"]}
    assert snapshot() == before


# --- read ---------------------------------------------------------------------------------------------


def test_retrieve(api):
    contact = ContactFactory(client=api.tenant, fields={"param1": "x"})
    body = api.get(f"{URL}{contact.id}/").json()
    assert body["id"] == str(contact.id)
    assert body["phone"] == contact.phone
    assert body["fields"] == {"param1": "x"}


def test_list_is_newest_first_with_cursor_pages(api):
    ids = []
    for day in range(1, 6):
        with time_machine.travel(datetime(2026, 1, day, tzinfo=UTC), tick=False):
            ids.append(str(ContactFactory(client=api.tenant).id))
    page = api.get(f"{URL}?limit=2").json()
    assert set(page) == {"next", "previous", "results"}
    seen = [c["id"] for c in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [c["id"] for c in page["results"]]
    assert seen == ids[::-1]


def test_list_query_count_does_not_grow_with_contacts_or_lists(api, django_assert_max_num_queries):
    lists = [ContactListFactory(client=api.tenant) for _ in range(3)]
    for _ in range(30):
        add_members(lists[0], ContactFactory(client=api.tenant))
    add_members(lists[1], *Contact.objects.filter(client=api.tenant)[:10])
    api.get(URL)  # warm the key's last_used_at
    with django_assert_max_num_queries(6):
        body = api.get(f"{URL}?limit=100").json()
    assert len(body["results"]) == 30
    assert sum(len(c["lists"]) for c in body["results"]) == 40


@pytest.fixture
def people(api):
    client = api.tenant
    with time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False):
        amina = ContactFactory(client=client, phone="+256772000101", first_name="Amina", last_name="Nakato")
    with time_machine.travel(datetime(2026, 3, 5, tzinfo=UTC), tick=False):
        pierre = ContactFactory(
            client=client, phone="+33612000102", first_name="Pierre", last_name="Martin", language="fra"
        )
    with time_machine.travel(datetime(2026, 3, 9, tzinfo=UTC), tick=False):
        mary = ContactFactory(
            client=client,
            phone="+12025550101",
            first_name="Mary",
            last_name="Amin",
            language="eng",
            opted_out=True,
            opted_out_at=datetime(2026, 3, 9, tzinfo=UTC),
        )
    telegram = ContactFactory(client=client, phone=None, telegram_chat_id="777", first_name="Tele")
    vip = ContactListFactory(client=client)
    add_members(vip, amina, mary)
    ContactFactory(first_name="Amina")  # another client's
    return {"amina": amina, "pierre": pierre, "mary": mary, "telegram": telegram, "vip": vip}


def _names(api, query):
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    return sorted(c["first_name"] for c in response.json()["results"])


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["Amina", "Mary", "Pierre", "Tele"]),
        ("list={vip}", ["Amina", "Mary"]),
        ("phone=%2B256772000101", ["Amina"]),
        ("phone=0772000101", ["Amina"]),
        ("phone=%2B256772999999", []),
        ("telegram_chat_id=777", ["Tele"]),
        ("opted_out=true", ["Mary"]),
        ("opted_out=false", ["Amina", "Pierre", "Tele"]),
        ("language=fra", ["Pierre"]),
        ("language=en", ["Mary"]),
        ("search=amin", ["Amina", "Mary"]),
        ("search=AMINA nakato", ["Amina"]),
        ("search=martin", ["Pierre"]),
        ("search=0772000", ["Amina"]),
        ("search=%2B3361", ["Pierre"]),
        ("search=555 0101", ["Mary"]),
        ("created_after=2026-03-05T00:00:00Z&created_before=2026-03-09T00:00:00Z", ["Pierre"]),
        ("created_after=2026-03-05T00:00:00Z&list={vip}", ["Mary"]),
    ],
)
def test_filters(api, people, query, names):
    assert _names(api, query.format(vip=people["vip"].id)) == names


def test_filtering_by_another_clients_list_finds_nothing(api, people):
    theirs = ContactListFactory()
    add_members(theirs, ContactFactory(client=theirs.client))
    assert _names(api, f"list={theirs.id}") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("list=nope", "list"),
        ("opted_out=maybe", "opted_out"),
        ("language=zz", "language"),
        ("phone=123", "phone"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-13-01", "created_before"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=bogus", "cursor"),
    ],
)
def test_bad_filters_get_400_naming_them(api, query, field):
    error = assert_error(api.get(f"{URL}?{query}"), 400, "invalid_request_error")
    assert field in error["fields"], error


# --- update ------------------------------------------------------------------------------------------


def test_patch_merges_fields_and_null_removes_a_key(api):
    contact = ContactFactory(client=api.tenant, fields={"a": "1", "b": "2"}, first_name="Old")
    response = api.patch(f"{URL}{contact.id}/", {"fields": {"b": None, "c": "3"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["fields"] == {"a": "1", "c": "3"}
    assert response.json()["first_name"] == "Old"


def test_put_replaces_fields(api):
    contact = ContactFactory(client=api.tenant, fields={"a": "1", "b": "2"})
    body = api.put(f"{URL}{contact.id}/", {"fields": {"c": "3"}, "first_name": "New"}, format="json").json()
    assert body["fields"] == {"c": "3"}
    assert body["first_name"] == "New"
    assert body["phone"] == contact.phone


def test_patch_the_phone_and_lists(api):
    one, two, three = (ContactListFactory(client=api.tenant) for _ in range(3))
    contact = ContactFactory(client=api.tenant)
    add_members(one, contact)
    add_members(two, contact)
    body = api.patch(
        f"{URL}{contact.id}/", {"phone": "0782 000 111", "lists": [str(two.id), str(three.id)]}, format="json"
    ).json()
    assert body["phone"] == "+256782000111"
    assert sorted(body["lists"]) == sorted([str(two.id), str(three.id)])
    counts = dict(ContactList.objects.values_list("id", "contact_count"))
    assert (counts[one.id], counts[two.id], counts[three.id]) == (0, 1, 1)


def test_updating_to_a_phone_in_use_is_a_conflict_and_changes_nothing(api):
    ContactFactory(client=api.tenant, phone="+256772000001")
    contact = ContactFactory(client=api.tenant, phone="+256772000002")
    before = snapshot()
    assert_error(
        api.patch(f"{URL}{contact.id}/", {"phone": "+256772000001", "first_name": "x"}, format="json"),
        409,
        "conflict",
        "duplicate_phone",
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": "nope"}, "phone"),
        ({"phone": None}, "phone"),  # and no chat id: no address left
        ({"fields": {"BAD": "x"}}, "fields.BAD"),
        ({"language": "zz"}, "language"),
        ({"lists": ["x"]}, "lists.0"),
    ],
)
def test_bad_updates_get_400_and_change_nothing(api, payload, field):
    contact = ContactFactory(client=api.tenant)
    before = snapshot()
    error = assert_error(api.patch(f"{URL}{contact.id}/", payload, format="json"), 400, "invalid_request_error")
    assert field in error["fields"]
    assert snapshot() == before


def test_updating_with_another_clients_list_is_404(api):
    contact = ContactFactory(client=api.tenant)
    theirs = ContactListFactory()
    before = snapshot()
    assert_error(api.patch(f"{URL}{contact.id}/", {"lists": [str(theirs.id)]}, format="json"), 404, "not_found")
    assert snapshot() == before


# --- delete, opt-out, opt-in -------------------------------------------------------------------------


def test_delete_is_204_and_keeps_list_counts_right(api):
    vip = ContactListFactory(client=api.tenant)
    contact, other = ContactFactory(client=api.tenant), ContactFactory(client=api.tenant)
    add_members(vip, contact, other)
    response = api.delete(f"{URL}{contact.id}/")
    assert response.status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()
    vip.refresh_from_db()
    assert vip.contact_count == 1
    assert list(ContactListMembership.objects.values_list("contact_id", flat=True)) == [other.id]


def test_opt_out_records_when_and_from_where_and_is_idempotent(api):
    contact = ContactFactory(client=api.tenant)
    with time_machine.travel(datetime(2026, 4, 1, 12, tzinfo=UTC), tick=False):
        body = api.post(f"{URL}{contact.id}/opt-out/").json()
    assert body["opted_out"] is True
    assert body["opted_out_at"] == "2026-04-01T12:00:00Z"
    contact.refresh_from_db()
    assert contact.opted_out_source == OptOutSource.API
    with time_machine.travel(datetime(2026, 4, 2, tzinfo=UTC), tick=False):
        again = api.post(f"{URL}{contact.id}/opt-out/")
    assert again.status_code == 200
    assert again.json()["opted_out_at"] == "2026-04-01T12:00:00Z"


def test_opt_in_clears_the_opt_out(api):
    contact = ContactFactory(
        client=api.tenant, opted_out=True, opted_out_at=datetime(2026, 1, 1, tzinfo=UTC), opted_out_source="keyword"
    )
    body = api.post(f"{URL}{contact.id}/opt-in/").json()
    assert (body["opted_out"], body["opted_out_at"]) == (False, None)
    contact.refresh_from_db()
    assert contact.opted_out_source == ""
    assert api.post(f"{URL}{contact.id}/opt-in/").status_code == 200


def test_a_dashboard_user_opting_out_is_recorded_as_dashboard(make_session_api):
    api = make_session_api(role="manager")
    contact = ContactFactory(client=api.tenant)
    assert api.post(f"{URL}{contact.id}/opt-out/").status_code == 200
    contact.refresh_from_db()
    assert contact.opted_out_source == OptOutSource.DASHBOARD


# --- tenancy and scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"first_name": "x"}),
        ("put", "", {"first_name": "x"}),
        ("delete", "", None),
        ("post", "opt-out/", None),
        ("post", "opt-in/", None),
    ],
)
def test_another_clients_contact_is_404_everywhere(api, method, suffix, payload):
    theirs = ContactFactory(client=ClientFactory())
    before = snapshot()
    response = getattr(api, method)(f"{URL}{theirs.id}/{suffix}", payload, format="json")
    assert_error(response, 404, "not_found")
    assert snapshot() == before


@pytest.mark.parametrize("contact_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "123"])
def test_unknown_ids_are_404(api, contact_id):
    assert_error(api.get(f"{URL}{contact_id}/"), 404, "not_found")


def test_another_clients_contacts_are_not_listed(api):
    ContactFactory(client=ClientFactory())
    assert api.get(URL).json()["results"] == []


def test_reading_needs_read_and_writing_needs_contacts(make_api):
    reader = make_api(scopes=["read"])
    contact = ContactFactory(client=reader.tenant)
    assert reader.get(URL).status_code == 200
    assert_error(reader.post(URL, {"phone": "+256772123456"}, format="json"), 403, "permission_error", "missing_scope")
    assert_error(reader.post(f"{URL}{contact.id}/opt-out/"), 403, "permission_error", "missing_scope")
    writer = make_api(scopes=["contacts"])
    assert_error(writer.get(URL), 403, "permission_error", "missing_scope")
    assert writer.post(URL, {"phone": "+256772123456"}, format="json").status_code == 201


def test_idempotency_key_replays_a_create(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-amina"}
    first = api.post(URL, {"phone": "+256772123456"}, format="json", **headers)
    second = api.post(URL, {"phone": "+256772123456"}, format="json", **headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert Contact.objects.count() == 1
