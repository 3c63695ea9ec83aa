"""What other apps call: lookups by id with 404s naming the ids, audiences, bulk lists, keywords."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts.exceptions import ConflictError, NotFoundError
from contacts.keywords import KeywordAction
from contacts.models import Contact, ContactList, ContactListMembership, OptOutSource
from contacts.selectors import audience_contacts, contact_lists_by_ids, contacts_by_ids, contacts_by_phones
from contacts.services import (
    KeywordOutcome,
    contact_apply_keyword,
    contact_delete,
    contact_list_add_contacts,
    contact_list_create_with_phones,
    contact_list_recount,
    contact_list_remove_contacts,
    contact_opt_in,
    contact_opt_out,
    contacts_get_or_create_by_phones,
)
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members

pytestmark = pytest.mark.django_db


def test_contacts_by_ids(tenant):
    one, two = ContactFactory(client=tenant), ContactFactory(client=tenant)
    found = contacts_by_ids(client=tenant, ids=[str(one.id), two.id, one.id])
    assert found == {one.id: one, two.id: two}


def test_contacts_by_ids_names_unknown_and_other_clients_ids(tenant):
    mine = ContactFactory(client=tenant)
    theirs = ContactFactory(client=ClientFactory())
    unknown = uuid.uuid4()
    with pytest.raises(NotFoundError) as caught:
        contacts_by_ids(client=tenant, ids=[mine.id, theirs.id, unknown], field="contacts")
    error = caught.value
    assert (error.status_code, error.code) == (404, "contact_not_found")
    assert error.message == f"Unknown contact ids: {theirs.id}, {unknown}."
    assert error.fields == {"contacts": [f"Unknown contact id: {theirs.id}", f"Unknown contact id: {unknown}"]}


def test_contact_lists_by_ids(tenant):
    vip = ContactListFactory(client=tenant)
    theirs = ContactListFactory()
    assert contact_lists_by_ids(client=tenant, ids=[vip.id]) == {vip.id: vip}
    with pytest.raises(NotFoundError) as caught:
        contact_lists_by_ids(client=tenant, ids=[vip.id, theirs.id], field="exclude_lists")
    assert caught.value.fields == {"exclude_lists": [f"Unknown contact list id: {theirs.id}"]}


def test_many_unknown_ids_are_summarised():
    client = ClientFactory()
    ids = [uuid.uuid4() for _ in range(25)]
    with pytest.raises(NotFoundError) as caught:
        contacts_by_ids(client=client, ids=ids)
    assert caught.value.message.endswith(" and 5 more.")
    assert len(caught.value.fields["contacts"]) == 20


def test_malformed_ids_are_a_validation_error_naming_the_field(tenant):
    with pytest.raises(ValidationError) as caught:
        contacts_by_ids(client=tenant, ids=["nope"], field="contacts")
    assert caught.value.message_dict == {"contacts": ["Not a valid id: nope."]}


@pytest.fixture
def audience(tenant):
    people = {name: ContactFactory(client=tenant, first_name=name) for name in "abcdefg"}
    customers, vip, blocked = (ContactListFactory(client=tenant) for _ in range(3))
    add_members(customers, people["a"], people["b"], people["c"], people["d"])
    add_members(vip, people["c"], people["d"], people["e"])
    add_members(blocked, people["d"], people["f"])
    contact_opt_out(contact=people["b"])
    other = ContactFactory(client=ClientFactory(), first_name="x")
    return people, customers, vip, blocked, other


def _names(queryset):
    return sorted(queryset.values_list("first_name", flat=True))


@pytest.mark.parametrize(
    ("contacts", "lists", "exclude", "names"),
    [
        ("", "", "", []),
        ("g", "", "", ["g"]),
        ("", "customers", "", ["a", "b", "c", "d"]),
        ("", "customers vip", "", ["a", "b", "c", "d", "e"]),  # each contact once
        ("", "customers vip", "blocked", ["a", "b", "c", "e"]),
        ("g f", "vip", "blocked", ["c", "e", "g"]),  # an excluded list wins over a named contact
        ("a", "customers", "", ["a", "b", "c", "d"]),
        ("", "", "blocked", []),
    ],
)
def test_audience_contacts(tenant, audience, contacts, lists, exclude, names):
    people, customers, vip, blocked, _ = audience
    by_name = {"customers": customers.id, "vip": vip.id, "blocked": blocked.id}
    queryset = audience_contacts(
        client=tenant,
        contact_ids=[people[n].id for n in contacts.split()],
        list_ids=[by_name[n] for n in lists.split()],
        exclude_list_ids=[by_name[n] for n in exclude.split()],
    )
    assert _names(queryset) == names


def test_audience_ignores_another_clients_contacts_and_lists(tenant, audience):
    _, customers, *_, other = audience
    theirs = ContactListFactory(client=other.client)
    add_members(theirs, other)
    queryset = audience_contacts(client=tenant, contact_ids=[other.id], list_ids=[theirs.id, customers.id])
    assert _names(queryset) == ["a", "b", "c", "d"]


def test_audience_is_one_set_based_statement_usable_in_insert_select(tenant, audience, django_assert_num_queries):
    _, customers, vip, blocked, _ = audience
    queryset = audience_contacts(client=tenant, list_ids=[customers.id, vip.id], exclude_list_ids=[blocked.id])
    sql, params = queryset.values("id", "phone").query.sql_with_params()
    assert "DISTINCT" not in sql
    assert "ORDER BY" not in sql
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE picked (id uuid, phone text)")
    with django_assert_num_queries(1), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO picked (id, phone) {sql}", params)
        assert cursor.rowcount == 4


def test_contacts_by_phones(tenant):
    one = ContactFactory(client=tenant, phone="+256772000001")
    ContactFactory(client=ClientFactory(), phone="+256772000002")
    assert contacts_by_phones(client=tenant, phones=["+256772000001", "+256772000002"]) == {"+256772000001": one}
    assert contacts_by_phones(client=tenant, phones=[]) == {}


def test_get_or_create_by_phones_creates_only_the_missing(tenant):
    existing = ContactFactory(client=tenant, phone="+256772000001")
    ids = contacts_get_or_create_by_phones(
        client=tenant, phones=["+256772000001", "+256772000002", "+33612000003", "+256772000002"]
    )
    assert set(ids) == {"+256772000001", "+256772000002", "+33612000003"}
    assert ids["+256772000001"] == existing.id
    assert Contact.objects.filter(client=tenant).count() == 3
    created = Contact.objects.get(pk=ids["+33612000003"])
    assert (created.first_name, created.fields, created.opted_out, created.language) == ("", {}, False, None)
    again = contacts_get_or_create_by_phones(client=tenant, phones=["+256772000002"])
    assert again == {"+256772000002": ids["+256772000002"]}


def test_get_or_create_by_phones_wants_e164(tenant):
    with pytest.raises(ValueError, match=r"not E\.164"):
        contacts_get_or_create_by_phones(client=tenant, phones=["0772000001"])


def test_a_list_from_phones(tenant):
    existing = ContactFactory(client=tenant, phone="+256772000001")
    phones = ["+256772000001", "+256772000002", "+256772000002", "+12025550101"]
    contact_list = contact_list_create_with_phones(client=tenant, name="Broadcast 12 recipients", phones=phones)
    assert contact_list.contact_count == 3
    members = set(
        ContactListMembership.objects.filter(contact_list=contact_list).values_list("contact__phone", flat=True)
    )
    assert members == {"+256772000001", "+256772000002", "+12025550101"}
    assert ContactListMembership.objects.filter(contact=existing).count() == 1


def test_a_list_from_phones_with_a_name_in_use_is_a_conflict_and_creates_nothing(tenant):
    ContactListFactory(client=tenant, name="Taken")
    with pytest.raises(ConflictError) as caught:
        contact_list_create_with_phones(client=tenant, name="Taken", phones=["+256772000001"])
    assert caught.value.fields == {"list_name": ["Another contact list already has this name."]}
    assert Contact.objects.count() == 0
    assert ContactList.objects.count() == 1


def test_counts_stay_right_through_adds_removes_and_deletes(tenant):
    vip, other = ContactListFactory(client=tenant), ContactListFactory(client=tenant)
    contacts = [ContactFactory(client=tenant) for _ in range(5)]
    assert contact_list_add_contacts(contact_list=vip, contact_ids=[c.id for c in contacts]) == 5
    assert contact_list_add_contacts(contact_list=vip, contact_ids=[contacts[0].id]) == 0
    assert contact_list_add_contacts(contact_list=other, contact_ids=[contacts[0].id, contacts[1].id]) == 2
    assert contact_list_remove_contacts(contact_list=vip, contact_ids=[contacts[4].id, contacts[4].id]) == 1
    contact_delete(contact=contacts[0])
    contact_delete(contact=contacts[0])  # deleting twice is harmless
    vip.refresh_from_db()
    other.refresh_from_db()
    assert (vip.contact_count, other.contact_count) == (3, 1)
    ContactList.objects.filter(pk=vip.pk).update(contact_count=99)
    assert contact_list_recount(contact_list=vip).contact_count == 3


@pytest.mark.parametrize(
    ("text", "was_out", "outcome", "opted_out"),
    [
        ("STOP", False, KeywordOutcome(KeywordAction.OPT_OUT, True), True),
        ("stop.", True, KeywordOutcome(KeywordAction.OPT_OUT, False), True),
        ("Start", True, KeywordOutcome(KeywordAction.OPT_IN, True), False),
        ("yes", False, KeywordOutcome(KeywordAction.OPT_IN, False), False),
        ("please stop", False, None, False),
        ("hello", True, None, True),
    ],
)
def test_apply_keyword(tenant, text, was_out, outcome, opted_out):
    at = datetime(2026, 5, 1, tzinfo=UTC)
    contact = ContactFactory(
        client=tenant,
        opted_out=was_out,
        opted_out_at=datetime(2026, 1, 1, tzinfo=UTC) if was_out else None,
        opted_out_source=OptOutSource.API if was_out else "",
    )
    assert contact_apply_keyword(contact=contact, text=text, at=at) == outcome
    contact.refresh_from_db()
    assert contact.opted_out is opted_out
    if outcome and outcome.changed and opted_out:
        assert (contact.opted_out_at, contact.opted_out_source) == (at, OptOutSource.KEYWORD)


KEYWORD_AT = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "sent_at", "outcome", "opted_out"),
    [
        # Sent before the STOP at 12:00:30 that opted the contact out: ignored.
        ("START", datetime(2026, 5, 1, 12, 0, 29, tzinfo=UTC), KeywordOutcome(KeywordAction.OPT_IN, False, True), True),
        # In the same second: taken in arrival order (providers stamp whole seconds).
        ("START", KEYWORD_AT, KeywordOutcome(KeywordAction.OPT_IN, True), False),
        ("START", datetime(2026, 5, 1, 12, 1, tzinfo=UTC), KeywordOutcome(KeywordAction.OPT_IN, True), False),
        # No time from the provider: it counts as sent now, so it applies.
        ("START", None, KeywordOutcome(KeywordAction.OPT_IN, True), False),
        # An older STOP agrees with the state and is outdated too: nothing moves backwards.
        ("STOP", datetime(2026, 5, 1, 12, 0, tzinfo=UTC), KeywordOutcome(KeywordAction.OPT_OUT, False, True), True),
    ],
)
def test_a_keyword_older_than_the_last_opt_out_changes_nothing(tenant, text, sent_at, outcome, opted_out):
    contact = ContactFactory(client=tenant)
    assert contact_apply_keyword(contact=contact, text="STOP", at=KEYWORD_AT) == (KeywordAction.OPT_OUT, True, False)
    changed_at = contact.opt_out_changed_at
    assert (contact.opted_out_at, contact.opt_out_requested_at) == (KEYWORD_AT, KEYWORD_AT)

    assert contact_apply_keyword(contact=contact, text=text, at=sent_at) == outcome

    contact.refresh_from_db()
    assert contact.opted_out is opted_out
    if outcome.outdated:
        assert (contact.opt_out_changed_at, contact.opt_out_requested_at) == (changed_at, KEYWORD_AT)
    else:
        assert contact.opt_out_changed_at > changed_at
        assert contact.opt_out_requested_at >= KEYWORD_AT


def test_an_opt_in_by_the_api_outranks_every_earlier_keyword(tenant):
    contact = ContactFactory(client=tenant)
    contact_apply_keyword(contact=contact, text="STOP", at=KEYWORD_AT)
    contact_opt_in(contact=contact)
    assert contact.opt_out_requested_at == contact.opt_out_changed_at  # now, by Herald's clock
    assert contact_apply_keyword(contact=contact, text="STOP", at=KEYWORD_AT).outdated is True
    assert contact.opted_out is False
    # A door that acts now always applies, whatever keyword came before.
    contact_opt_out(contact=contact)
    assert (contact.opted_out, contact.opted_out_source) == (True, OptOutSource.API)


def test_a_provider_clock_ahead_of_ours_counts_as_now(tenant):
    contact = ContactFactory(client=tenant)
    before = timezone.now()
    contact_apply_keyword(contact=contact, text="STOP", at=datetime(2099, 1, 1, tzinfo=UTC))
    # Else every later keyword would look older than this one until 2099.
    assert before <= contact.opt_out_requested_at <= timezone.now()
    assert contact_apply_keyword(contact=contact, text="START", at=None).changed is True


def test_an_unknown_opt_out_source_is_a_programming_error(tenant):
    with pytest.raises(ValueError, match="Unknown opt-out source"):
        contact_opt_out(contact=ContactFactory(client=tenant), source="carrier pigeon")
