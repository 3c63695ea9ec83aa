"""/api/v1/contact-lists/: CRUD and bulk membership, counts, tenancy."""

from __future__ import annotations

import uuid

import pytest

from contacts.models import Contact, ContactList, ContactListMembership
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/contact-lists/"


def snapshot():
    return (
        sorted(ContactList.objects.values_list("id", "name", "contact_count")),
        sorted(ContactListMembership.objects.values_list("contact_list_id", "contact_id")),
        Contact.objects.count(),
    )


def test_create_read_rename_delete(api):
    created = api.post(URL, {"name": " Customers "}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "number", "name", "contact_count", "created_at"}
    assert (body["name"], body["contact_count"]) == ("Customers", 0)
    assert api.get(f"{URL}{body['id']}/").json() == body
    renamed = api.patch(f"{URL}{body['id']}/", {"name": "Clients"}, format="json").json()
    assert renamed["name"] == "Clients"
    assert api.put(f"{URL}{body['id']}/", {"name": "Buyers"}, format="json").json()["name"] == "Buyers"
    contact = ContactFactory(client=api.tenant)
    add_members(ContactList.objects.get(pk=body["id"]), contact)
    assert api.delete(f"{URL}{body['id']}/").status_code == 204
    assert not ContactList.objects.exists()
    assert not ContactListMembership.objects.exists()
    assert Contact.objects.filter(pk=contact.pk).exists()  # contacts stay


@pytest.mark.parametrize(("payload", "field"), [({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 256}, "name")])
def test_bad_names_get_400(api, payload, field):
    before = snapshot()
    error = assert_error(api.post(URL, payload, format="json"), 400, "invalid_request_error")
    assert field in error["fields"]
    assert snapshot() == before


def test_a_duplicate_name_is_a_conflict(api):
    ContactListFactory(client=api.tenant, name="VIP")
    other = ContactListFactory(client=api.tenant, name="Other")
    before = snapshot()
    error = assert_error(api.post(URL, {"name": "VIP"}, format="json"), 409, "conflict", "duplicate_name")
    assert error["fields"] == {"name": ["Another contact list already has this name."]}
    assert_error(api.patch(f"{URL}{other.id}/", {"name": "VIP"}, format="json"), 409, "conflict", "duplicate_name")
    assert snapshot() == before


def test_another_client_may_use_the_same_name(api):
    ContactListFactory(name="VIP")
    assert api.post(URL, {"name": "VIP"}, format="json").status_code == 201


def test_add_and_remove_members_in_bulk(api):
    vip = ContactListFactory(client=api.tenant)
    contacts = [ContactFactory(client=api.tenant) for _ in range(4)]
    ids = [str(c.id) for c in contacts]
    added = api.post(f"{URL}{vip.id}/contacts/", {"contacts": ids[:3]}, format="json")
    assert added.status_code == 200
    assert added.json()["contact_count"] == 3
    # Adding again (with one new) counts only the new one.
    assert api.post(f"{URL}{vip.id}/contacts/", {"contacts": ids}, format="json").json()["contact_count"] == 4
    removed = api.delete(f"{URL}{vip.id}/contacts/", {"contacts": ids[:2]}, format="json")
    assert removed.status_code == 200
    assert removed.json()["contact_count"] == 2
    # Removing non-members changes nothing.
    assert api.delete(f"{URL}{vip.id}/contacts/", {"contacts": ids[:2]}, format="json").json()["contact_count"] == 2
    members = set(ContactListMembership.objects.filter(contact_list=vip).values_list("contact_id", flat=True))
    assert members == {contacts[2].id, contacts[3].id}
    assert Contact.objects.count() == 4


def test_members_show_up_in_the_contacts_list_filter(api):
    vip = ContactListFactory(client=api.tenant)
    inside, _outside = ContactFactory(client=api.tenant), ContactFactory(client=api.tenant)
    api.post(f"{URL}{vip.id}/contacts/", {"contacts": [str(inside.id)]}, format="json")
    results = api.get(f"/api/v1/contacts/?list={vip.id}").json()["results"]
    assert [c["id"] for c in results] == [str(inside.id)]


@pytest.mark.parametrize("method", ["post", "delete"])
def test_unknown_or_other_clients_contacts_are_404_and_change_nothing(api, method):
    vip = ContactListFactory(client=api.tenant)
    mine = ContactFactory(client=api.tenant)
    add_members(vip, mine)
    theirs = ContactFactory(client=ClientFactory())
    unknown = uuid.uuid4()
    before = snapshot()
    error = assert_error(
        getattr(api, method)(
            f"{URL}{vip.id}/contacts/", {"contacts": [str(mine.id), str(theirs.id), str(unknown)]}, format="json"
        ),
        404,
        "not_found",
        "contact_not_found",
    )
    assert error["fields"] == {"contacts": [f"Unknown contact id: {theirs.id}", f"Unknown contact id: {unknown}"]}
    assert snapshot() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "contacts"),
        ({"contacts": []}, "contacts"),
        ({"contacts": "abc"}, "contacts"),
        ({"contacts": ["abc"]}, "contacts.0"),
        ({"contacts": [str(uuid.uuid4())] * 10_001}, "contacts"),
    ],
)
def test_bad_member_requests_get_400(api, payload, field):
    vip = ContactListFactory(client=api.tenant)
    before = snapshot()
    error = assert_error(api.post(f"{URL}{vip.id}/contacts/", payload, format="json"), 400, "invalid_request_error")
    assert field in error["fields"], error
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"name": "x"}),
        ("put", "", {"name": "x"}),
        ("delete", "", None),
        ("post", "contacts/", {"contacts": []}),
        ("delete", "contacts/", {"contacts": []}),
    ],
)
def test_another_clients_list_is_404_everywhere(api, method, suffix, payload):
    theirs = ContactListFactory()
    add_members(theirs, ContactFactory(client=theirs.client))
    before = snapshot()
    assert_error(getattr(api, method)(f"{URL}{theirs.id}/{suffix}", payload, format="json"), 404, "not_found")
    assert snapshot() == before


def test_lists_filter_and_page(api, django_assert_max_num_queries):
    for name in ["Alpha", "Beta", "Alphabet", "Gamma"]:
        ContactListFactory(client=api.tenant, name=name)
    ContactListFactory(name="Alpha other client")
    api.get(URL)
    with django_assert_max_num_queries(5):
        names = [x["name"] for x in api.get(f"{URL}?name=alpha").json()["results"]]
    assert sorted(names) == ["Alpha", "Alphabet"]
    page = api.get(f"{URL}?limit=3").json()
    assert len(page["results"]) == 3
    assert page["next"]
    assert len(api.get(page["next"]).json()["results"]) == 1


def test_a_read_key_cannot_change_members(make_api):
    reader = make_api(scopes=["read"])
    vip = ContactListFactory(client=reader.tenant)
    contact = ContactFactory(client=reader.tenant)
    assert_error(
        reader.post(f"{URL}{vip.id}/contacts/", {"contacts": [str(contact.id)]}, format="json"),
        403,
        "permission_error",
        "missing_scope",
    )
