"""SPEC §14, RapidPro v2 `groups.json` and `contact_actions.json` (COMPAT.md §2.4): Herald's contact
lists as static groups, and bulk actions on contacts, with RapidPro's words for every refusal."""

from __future__ import annotations

import uuid

import pytest

from contacts.models import Contact, ContactList, ContactListMembership, ContactTombstone, OptOutSource
from contacts.services import contact_opt_out
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members

URL = "/api/v2/groups.json"
ACTIONS = "/api/v2/contact_actions.json"
FORBIDDEN = {"detail": "You do not have permission to perform this action."}

pytestmark = pytest.mark.django_db


def _error(response, status=400):
    assert response.status_code == status, response.content
    return response.json()


# --- groups.json GET ------------------------------------------------------------------------------------


def test_groups_are_listed_newest_first_as_rapidpro_groups(rapidpro):
    older = ContactListFactory(client=rapidpro.tenant, name="Customers")
    newer = ContactListFactory(client=rapidpro.tenant, name="Reporters")
    add_members(newer, *[ContactFactory(client=rapidpro.tenant) for _ in range(3)])
    ContactListFactory(name="Theirs")
    body = rapidpro.get(URL).json()
    assert body == {
        "next": None,
        "previous": None,
        "results": [
            {"uuid": str(newer.pk), "name": "Reporters", "query": None, "status": "ready", "system": False, "count": 3},
            {"uuid": str(older.pk), "name": "Customers", "query": None, "status": "ready", "system": False, "count": 0},
        ],
    }
    assert isinstance(body["results"][0]["count"], int)


def test_groups_filter_by_uuid_or_name_case_insensitively(rapidpro):
    one = ContactListFactory(client=rapidpro.tenant, name="Customers")
    ContactListFactory(client=rapidpro.tenant, name="Reporters")
    theirs = ContactListFactory(name="Customers")
    assert [g["uuid"] for g in rapidpro.get(f"{URL}?uuid={one.pk}").json()["results"]] == [str(one.pk)]
    assert [g["uuid"] for g in rapidpro.get(f"{URL}?name=customers").json()["results"]] == [str(one.pk)]
    assert rapidpro.get(f"{URL}?uuid={theirs.pk}").json()["results"] == []
    assert rapidpro.get(f"{URL}?name=nope").json()["results"] == []


def test_groups_uuid_and_name_are_exclusive(rapidpro):
    one = ContactListFactory(client=rapidpro.tenant)
    response = rapidpro.get(f"{URL}?uuid={one.pk}&name=x")
    assert _error(response) == {"detail": "You may only specify one of the uuid, name parameters"}
    assert _error(rapidpro.get(f"{URL}?uuid=x")) == {"detail": "Param 'uuid': x is not a valid UUID."}


def test_groups_page_by_250(rapidpro):
    ContactList.objects.bulk_create([ContactList(client=rapidpro.tenant, name=f"G{i}") for i in range(251)])
    body = rapidpro.get(f"{URL}?name=").json()
    assert len(body["results"]) == 250
    assert body["next"].startswith("http://testserver/api/v2/groups.json?")
    assert "cursor=" in body["next"]
    assert len(rapidpro.get(body["next"]).json()["results"]) == 1


# --- groups.json POST / DELETE -------------------------------------------------------------------------


def test_create_a_group(rapidpro):
    response = rapidpro.post(URL, {"name": " Reporters "}, format="json")
    assert response.status_code == 201, response.content
    group = ContactList.objects.get(client=rapidpro.tenant)
    assert group.name == "Reporters"
    assert response.json() == {
        "uuid": str(group.pk),
        "name": "Reporters",
        "query": None,
        "status": "ready",
        "system": False,
        "count": 0,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "This field is required."),
        ({"name": None}, "This field may not be null."),
        ({"name": "   "}, "This field may not be blank."),
        ({"name": ["x"]}, "Not a valid string."),
        ({"name": "x" * 65}, "Ensure this field has no more than 64 characters."),
        ({"name": '"People"'}, 'Cannot contain the character: "'),
        ({"name": "a\\b"}, "Cannot contain the character: \\"),
        ({"name": "reporters"}, "This field must be unique."),
    ],
)
def test_bad_group_names(rapidpro, body, message):
    ContactListFactory(client=rapidpro.tenant, name="Reporters")
    assert _error(rapidpro.post(URL, body, format="json")) == {"name": [message]}
    assert ContactList.objects.filter(client=rapidpro.tenant).count() == 1


def test_a_name_of_64_characters_and_another_clients_name_are_fine(rapidpro):
    ContactListFactory(name="Spammers")
    assert rapidpro.post(URL, {"name": "x" * 64}, format="json").status_code == 201
    assert rapidpro.post(URL, {"name": "Spammers"}, format="json").status_code == 201


def test_a_body_that_is_not_an_object(rapidpro):
    response = rapidpro.post(URL, ["x"], format="json")
    assert _error(response) == {"non_field_errors": ["Request body should be a single JSON object"]}


def test_rename_by_uuid(rapidpro):
    group = ContactListFactory(client=rapidpro.tenant, name="Reporters")
    ContactListFactory(client=rapidpro.tenant, name="Farmers")
    response = rapidpro.post(f"{URL}?uuid={group.pk}", {"name": "Journalists"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Journalists"
    group.refresh_from_db()
    assert group.name == "Journalists"
    # its own name in another case is no clash; another group's is
    assert rapidpro.post(f"{URL}?uuid={group.pk}", {"name": "JOURNALISTS"}, format="json").status_code == 200
    response = rapidpro.post(f"{URL}?uuid={group.pk}", {"name": "farmers"}, format="json")
    assert _error(response) == {"name": ["This field must be unique."]}


def test_rename_of_unknown_or_another_clients_group_is_a_404(rapidpro):
    theirs = ContactListFactory(name="Theirs")
    for group_id in (theirs.pk, uuid.uuid4()):
        response = rapidpro.post(f"{URL}?uuid={group_id}", {"name": "Mine"}, format="json")
        assert _error(response, 404) == {"detail": "Not found."}
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_delete_a_group_keeps_its_contacts(rapidpro):
    group = ContactListFactory(client=rapidpro.tenant)
    contact = ContactFactory(client=rapidpro.tenant)
    add_members(group, contact)
    response = rapidpro.delete(f"{URL}?uuid={group.pk}")
    assert (response.status_code, response.content) == (204, b"")
    assert not ContactList.objects.filter(pk=group.pk).exists()
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_delete_needs_a_uuid_and_finds_only_ones_own(rapidpro):
    assert _error(rapidpro.delete(URL)) == {"detail": "URL must contain one of the following parameters: uuid"}
    theirs = ContactListFactory()
    assert _error(rapidpro.delete(f"{URL}?uuid={theirs.pk}"), 404) == {"detail": "Not found."}
    assert _error(rapidpro.delete(f"{URL}?uuid={uuid.uuid4()}"), 404) == {"detail": "Not found."}
    assert ContactList.objects.filter(pk=theirs.pk).exists()


def test_group_writes_need_the_contacts_scope_and_reads_read(make_rapidpro):
    reader = make_rapidpro(scopes=["read"])
    group = ContactListFactory(client=reader.tenant)
    for response in (
        reader.post(URL, {"name": "X"}, format="json"),
        reader.post(f"{URL}?uuid={group.pk}", {"name": "X"}, format="json"),
        reader.delete(f"{URL}?uuid={group.pk}"),
    ):
        assert _error(response, 403) == FORBIDDEN
    writer = make_rapidpro(scopes=["contacts"])
    assert _error(writer.get(URL), 403) == FORBIDDEN


# --- contact_actions.json --------------------------------------------------------------------------------


@pytest.fixture
def people(rapidpro):
    return [ContactFactory(client=rapidpro.tenant, phone=f"+25677200000{i}") for i in range(1, 5)]


def act(api, body):
    return api.post(ACTIONS, body, format="json")


def _members(group):
    return set(ContactListMembership.objects.filter(contact_list=group).values_list("contact_id", flat=True))


def test_add_by_uuid_or_urn_to_a_group_by_name_or_uuid(rapidpro, people):
    group = ContactListFactory(client=rapidpro.tenant, name="Testers")
    response = act(rapidpro, {"contacts": [str(people[0].pk), "tel:0772000002"], "action": "add", "group": "testers"})
    assert (response.status_code, response.content) == (204, b"")
    assert _members(group) == {people[0].pk, people[1].pk}
    assert act(rapidpro, {"contacts": [str(people[2].pk)], "action": "add", "group": str(group.pk)}).status_code == 204
    group.refresh_from_db()
    assert group.contact_count == 3


def test_remove(rapidpro, people):
    group = ContactListFactory(client=rapidpro.tenant, name="Testers")
    add_members(group, *people)
    body = {"contacts": ["whatsapp:256772000001", str(people[1].pk)], "action": "remove", "group": "Testers"}
    assert act(rapidpro, body).status_code == 204
    assert _members(group) == {people[2].pk, people[3].pk}
    group.refresh_from_db()
    assert group.contact_count == 2


def test_block_and_unblock_are_an_opt_out_of_source_block_and_an_opt_in(rapidpro, people):
    assert act(rapidpro, {"contacts": [str(people[0].pk), str(people[1].pk)], "action": "block"}).status_code == 204
    first = Contact.objects.get(pk=people[0].pk)
    assert (first.opted_out, first.opted_out_source, first.blocked) == (True, OptOutSource.BLOCK, True)
    listed = {r["uuid"]: r["status"] for r in rapidpro.get("/api/v2/contacts.json").json()["results"]}
    assert listed[str(people[0].pk)] == "blocked"
    assert act(rapidpro, {"contacts": [str(people[0].pk)], "action": "unblock"}).status_code == 204
    first.refresh_from_db()
    assert (first.opted_out, first.opted_out_source) == (False, "")
    assert Contact.objects.get(pk=people[1].pk).opted_out is True


def test_delete_leaves_tombstones(rapidpro, people):
    assert act(rapidpro, {"contacts": [str(people[0].pk), "tel:+256772000002"], "action": "delete"}).status_code == 204
    assert not Contact.objects.filter(pk__in=[people[0].pk, people[1].pk]).exists()
    assert set(ContactTombstone.objects.values_list("contact_id", flat=True)) == {people[0].pk, people[1].pk}


@pytest.mark.parametrize("action", ["interrupt", "archive_messages", "archive"])
def test_actions_herald_has_nothing_for_are_accepted(rapidpro, people, action):
    assert act(rapidpro, {"contacts": [str(people[0].pk)], "action": action}).status_code == 204
    assert Contact.objects.get(pk=people[0].pk).opted_out is False


def test_adding_blocked_or_stopped_contacts_is_refused(rapidpro, people):
    group = ContactListFactory(client=rapidpro.tenant, name="Testers")
    contact_opt_out(contact=people[1], source=OptOutSource.BLOCK)
    contact_opt_out(contact=people[2], source=OptOutSource.KEYWORD)
    body = {"contacts": [str(c.pk) for c in people[:3]], "action": "add", "group": "Testers"}
    assert _error(act(rapidpro, body)) == {
        "non_field_errors": [f"Non-active contacts cannot be added to groups: {people[1].pk}, {people[2].pk}"]
    }
    assert _members(group) == set()
    body = {"contacts": [str(people[1].pk)], "action": "remove", "group": "Testers"}
    assert act(rapidpro, body).status_code == 204


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"action": "block"}, {"contacts": ["This field is required."]}),
        ({"contacts": [], "action": "block"}, {"contacts": ["Contacts can't be empty."]}),
        ({"contacts": None, "action": "block"}, {"contacts": ["This field may not be null."]}),
        ({"contacts": "x", "action": "block"}, {"contacts": ['Expected a list of items but got type "str".']}),
        (
            {"contacts": [str(i) for i in range(101)], "action": "block"},
            {"contacts": ["Ensure this field has no more than 100 elements."]},
        ),
        ({"contacts": [{"a": 1}], "action": "block"}, {"contacts": ["Must be a string or integer"]}),
        ({"contacts": ["tel:+256772000001"]}, {"action": ["This field is required."]}),
        ({"contacts": ["tel:+256772000001"], "action": "like"}, {"action": ['"like" is not a valid choice.']}),
        ({"contacts": ["tel:+256772000001"], "action": "add", "group": ""}, {"group": ["This field may not be null."]}),
        (
            {"contacts": ["tel:+256772000001"], "action": "add", "group": "Spammers"},
            {"group": ["No such object: Spammers"]},
        ),
        (
            {"contacts": ["tel:+256772000001"], "action": "add"},
            {"non_field_errors": ['For action "add" you should also specify a group']},
        ),
        (
            {"contacts": ["tel:+256772000001"], "action": "remove"},
            {"non_field_errors": ['For action "remove" you should also specify a group']},
        ),
        (
            {"contacts": ["tel:+256772000001"], "action": "block", "group": "Testers"},
            {"non_field_errors": ['For action "block" you should not specify a group']},
        ),
    ],
)
def test_contact_action_errors(rapidpro, people, body, errors):
    ContactListFactory(client=rapidpro.tenant, name="Testers")
    assert _error(act(rapidpro, body)) == errors
    assert Contact.objects.filter(opted_out=True).count() == 0


@pytest.mark.parametrize("ref", ["tel:+256772999999", "twitter:joe", "not-a-urn", None])
def test_an_unknown_contact_is_no_such_object(rapidpro, people, ref):
    unknown = ref or str(uuid.uuid4())
    body = {"contacts": [str(people[0].pk), unknown], "action": "block"}
    assert _error(act(rapidpro, body)) == {"contacts": [f"No such object: {unknown}"]}
    assert not Contact.objects.get(pk=people[0].pk).opted_out


def test_another_clients_contacts_and_groups_are_no_such_object(rapidpro, people):
    theirs = ContactFactory(phone="+256772000055")
    their_group = ContactListFactory(name="Theirs")
    for ref in (str(theirs.pk), "tel:+256772000055"):
        assert _error(act(rapidpro, {"contacts": [ref], "action": "delete"})) == {
            "contacts": [f"No such object: {ref}"]
        }
    body = {"contacts": [str(people[0].pk)], "action": "add", "group": str(their_group.pk)}
    assert _error(act(rapidpro, body)) == {"group": [f"No such object: {their_group.pk}"]}
    assert Contact.objects.filter(pk=theirs.pk).exists()
    assert _members(their_group) == set()


def test_contact_actions_need_the_contacts_scope(make_rapidpro):
    api = make_rapidpro(scopes=["read"])
    contact = ContactFactory(client=api.tenant)
    assert _error(act(api, {"contacts": [str(contact.pk)], "action": "block"}), 403) == FORBIDDEN
    assert Contact.objects.get(pk=contact.pk).opted_out is False


def test_contact_actions_has_no_get(rapidpro):
    assert rapidpro.get(ACTIONS).status_code == 405
