"""SPEC §14: contact lists are also known by a per-client integer `number` — 1, 2, 3 … in creation
order, settable on create (API, import's new list) when free, unique per client, read-only after,
filterable, given race-free by the database, and resolvable wherever an integer list id is sent."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.exceptions import ConflictError, NotFoundError
from contacts.imports import contact_import_create
from contacts.models import ContactList, ContactListNumbering
from contacts.selectors import contact_list_ids_by_refs
from contacts.services import (
    MAX_LIST_NUMBER,
    contact_list_create,
    contact_list_create_with_phones,
    contact_list_delete,
    contact_list_get_or_create,
)
from tests.contacts.files import MIXED_ROWS, csv_bytes, upload
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactListFactory
from tests.helpers import assert_error

URL = "/api/v1/contact-lists/"
IMPORTS = "/api/v1/contact-imports/"


def numbers(client: Any) -> list[tuple[str, int]]:
    return list(ContactList.objects.filter(client=client).order_by("created_at", "id").values_list("name", "number"))


# --- numbering ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lists_are_numbered_1_2_3_per_client_in_creation_order():
    shop, other = ClientFactory(), ClientFactory()
    first = contact_list_create(client=shop, name="A")
    assert first.number == 1  # read back from the INSERT, no refresh needed
    contact_list_create(client=other, name="A")
    second = contact_list_create(client=shop, name="B")
    third = contact_list_get_or_create(client=shop, name="C")
    fourth = contact_list_create_with_phones(client=shop, name="D", phones=["+256772000001"])
    assert [first.number, second.number, third.number, fourth.number] == [1, 2, 3, 4]
    assert numbers(other) == [("A", 1)]
    assert ContactList.objects.get(pk=fourth.pk).number == 4


@pytest.mark.django_db
def test_every_way_of_inserting_a_list_gets_a_number():
    """objects.create, factories, bulk_create and raw SQL: the database numbers them all."""
    client = ClientFactory()
    made = ContactList.objects.create(client=client, name="create")
    built = ContactListFactory(client=client)
    bulk = ContactList.objects.bulk_create([ContactList(client=client, name=f"bulk{i}") for i in range(3)])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contactlist (id, client_id, name, contact_count, created_at, updated_at)"
            " VALUES (%s, %s, 'raw', 0, now(), now()) RETURNING number",
            [uuid.uuid4(), client.pk],
        )
        raw = cursor.fetchone()[0]
    assert [made.number, built.number, *(b.number for b in bulk), raw] == [1, 2, 3, 4, 5, 6]


@pytest.mark.django_db
def test_a_number_is_never_given_again_after_its_list_is_deleted():
    client = ClientFactory()
    contact_list_create(client=client, name="A")
    last = contact_list_create(client=client, name="B")
    contact_list_delete(contact_list=last)
    assert contact_list_create(client=client, name="C").number == 3
    # …unless asked for: a free number may be chosen again.
    assert contact_list_create(client=client, name="B again", number=2).number == 2


@pytest.mark.django_db
def test_a_chosen_number_moves_the_next_ones_past_it():
    client = ClientFactory()
    assert contact_list_create(client=client, name="A").number == 1
    assert contact_list_create(client=client, name="Imported 10", number=10).number == 10
    assert contact_list_create(client=client, name="Next").number == 11
    assert contact_list_create(client=client, name="Low", number=5).number == 5
    assert contact_list_create(client=client, name="Then").number == 12
    assert ContactListNumbering.objects.get(client=client).last_number == 12


@pytest.mark.django_db
def test_the_highest_number_that_may_be_chosen_leaves_room_for_the_automatic_ones():
    """The schema fuzz chose 2,147,483,647 (PostgreSQL's integer limit): the next automatic number
    overflowed and the create answered 500. Chosen numbers now stop at MAX_LIST_NUMBER."""
    client = ClientFactory()
    assert contact_list_create(client=client, name="Top", number=MAX_LIST_NUMBER).number == MAX_LIST_NUMBER
    assert contact_list_create(client=client, name="After").number == MAX_LIST_NUMBER + 1


@pytest.mark.django_db
def test_a_taken_number_is_a_conflict_and_creates_nothing():
    client = ClientFactory()
    contact_list_create(client=client, name="A", number=7)
    with pytest.raises(ConflictError) as caught:
        contact_list_create(client=client, name="B", number=7)
    assert (caught.value.code, caught.value.fields) == (
        "duplicate_number",
        {"number": ["Another contact list already has the number 7."]},
    )
    assert numbers(client) == [("A", 7)]
    assert ContactListNumbering.objects.get(client=client).last_number == 7
    # Another client's 7 is theirs: no conflict.
    assert contact_list_create(client=ClientFactory(), name="B", number=7).number == 7


@pytest.mark.django_db
def test_a_duplicate_name_leaves_no_gap_in_the_numbers():
    client = ClientFactory()
    contact_list_create(client=client, name="A")
    with pytest.raises(ConflictError):
        contact_list_create(client=client, name="A")
    assert contact_list_create(client=client, name="B").number == 2


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [0, -1, 1_000_000_001, 2_147_483_647, 2_147_483_648, True, 1.5, "3"])
def test_a_number_must_be_a_whole_number_from_1(bad):
    client = ClientFactory()
    with pytest.raises(ValidationError) as caught:
        contact_list_create(client=client, name="A", number=bad)
    assert list(caught.value.message_dict) == ["number"]
    assert not ContactList.objects.exists()


@pytest.mark.django_db
def test_get_or_create_with_a_number_the_existing_list_does_not_have_is_a_conflict():
    client = ClientFactory()
    existing = contact_list_create(client=client, name="Fair", number=3)
    assert contact_list_get_or_create(client=client, name="Fair", number=3).pk == existing.pk
    assert contact_list_get_or_create(client=client, name="Fair").pk == existing.pk
    with pytest.raises(ConflictError) as caught:
        contact_list_get_or_create(client=client, name="Fair", number=4, number_field="list_number")
    assert caught.value.code == "list_number_mismatch"
    assert list(caught.value.fields) == ["list_number"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_never_get_the_same_number():
    """Eight threads, each its own connection and transaction, create lists of one client at once:
    each waits for the counter row, so the numbers are 1…8 with no repeat and no gap."""
    client = ClientFactory()
    start = threading.Barrier(8)
    got: list[int] = []
    errors: list[BaseException] = []

    def create(index: int) -> None:
        try:
            start.wait(10)
            with transaction.atomic():
                made = contact_list_create(client=client, name=f"L{index}")
                got.append(made.number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert sorted(got) == list(range(1, 9))
    assert sorted(ContactList.objects.filter(client=client).values_list("number", flat=True)) == list(range(1, 9))


@pytest.mark.django_db(transaction=True)
def test_a_create_waits_for_a_concurrent_uncommitted_one_then_takes_the_next_number():
    client = ClientFactory()
    inside, release = threading.Event(), threading.Event()
    result: dict[str, int] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                result["first"] = contact_list_create(client=client, name="first").number
                inside.set()
                release.wait(10)
        finally:
            connection.close()

    def second() -> None:
        inside.wait(10)
        try:
            with transaction.atomic():
                result["second"] = contact_list_create(client=client, name="second").number
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert inside.wait(10)
    threads[1].join(0.3)
    assert threads[1].is_alive()  # waiting on the client's counter row
    release.set()
    for thread in threads:
        thread.join(10)
    assert result == {"first": 1, "second": 2}


# --- the migration's backfill -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_numbers_existing_lists_in_creation_order():
    client, other = ClientFactory(), ClientFactory()
    now = timezone.now()
    executor = MigrationExecutor(connection)
    executor.migrate([("contacts", "0008_contact_client_updated_index")])
    try:
        old = executor.loader.project_state([("contacts", "0008_contact_client_updated_index")]).apps
        old_list = old.get_model("contacts", "ContactList")
        for name, client_id in [("b", client.pk), ("a", client.pk), ("c", client.pk), ("x", other.pk)]:
            old_list.objects.create(client_id=client_id, name=name)
        # auto_now_add wrote now(): set the creation times the test needs (a, b, c oldest first).
        for name, age in [("b", 2), ("a", 3), ("c", 1), ("x", 1)]:
            old_list.objects.filter(name=name).update(created_at=now - timedelta(days=age))
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert numbers(client) == [("a", 1), ("b", 2), ("c", 3)]
    assert numbers(other) == [("x", 1)]
    assert contact_list_create(client=client, name="d").number == 4
    assert contact_list_create(client=other, name="y").number == 2


# --- the native API -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_shows_the_number_and_takes_one_on_create(api):
    first = api.post(URL, {"name": "Customers"}, format="json")
    assert first.status_code == 201
    assert first.json()["number"] == 1
    chosen = api.post(URL, {"name": "Imported", "number": 42}, format="json").json()
    assert chosen["number"] == 42
    assert api.post(URL, {"name": "Next", "number": None}, format="json").json()["number"] == 43
    assert api.get(f"{URL}{chosen['id']}/").json()["number"] == 42
    assert [r["number"] for r in api.get(URL).json()["results"]] == [43, 42, 1]


@pytest.mark.django_db
def test_the_number_cannot_change_after_create(api):
    made = api.post(URL, {"name": "A"}, format="json").json()
    for method in (api.patch, api.put):
        answer = method(f"{URL}{made['id']}/", {"name": "B", "number": 9}, format="json")
        assert answer.status_code == 200
        assert answer.json()["number"] == 1
    assert ContactList.objects.get().number == 1


@pytest.mark.django_db
def test_a_taken_number_answers_409_naming_it(api):
    api.post(URL, {"name": "A", "number": 5}, format="json")
    error = assert_error(api.post(URL, {"name": "B", "number": 5}, format="json"), 409, "conflict", "duplicate_number")
    assert error["fields"] == {"number": ["Another contact list already has the number 5."]}
    assert ContactList.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [0, -3, 1_000_000_001, 2_147_483_647, 2_147_483_648, "x", 1.5])
def test_a_bad_number_answers_400(api, bad):
    error = assert_error(api.post(URL, {"name": "A", "number": bad}, format="json"), 400, "invalid_request_error")
    assert list(error["fields"]) == ["number"]
    assert not ContactList.objects.exists()


@pytest.mark.django_db
def test_lists_filter_by_number_within_the_client(api):
    mine = api.post(URL, {"name": "A"}, format="json").json()
    api.post(URL, {"name": "B"}, format="json")
    ContactListFactory(client=ClientFactory(), name="Theirs")  # their number 1
    assert [r["id"] for r in api.get(URL, {"number": 1}).json()["results"]] == [mine["id"]]
    assert api.get(URL, {"number": 99}).json()["results"] == []
    for bad in ("x", "0", "1.5"):
        assert list(assert_error(api.get(URL, {"number": bad}), 400, "invalid_request_error")["fields"]) == ["number"]


# --- imports ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_import_creates_its_new_list_with_the_number_asked_for(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(
            IMPORTS, {"file": upload(csv_bytes(MIXED_ROWS)), "list_name": "Fair", "list_number": 12}, format="multipart"
        )
    assert answer.status_code == 202, answer.content
    fair = ContactList.objects.get(client=api.tenant, name="Fair")
    assert (fair.number, answer.json()["list"]) == (12, str(fair.id))


@pytest.mark.django_db
def test_an_import_list_number_taken_or_without_list_name_changes_nothing(api):
    taken = api.post(URL, {"name": "Taken", "number": 3}, format="json").json()
    for data, code, field in [
        ({"list_name": "New", "list_number": 3}, 409, "list_number"),
        ({"list_name": "Taken", "list_number": 4}, 409, "list_number"),
        ({"list_number": 4}, 400, "list_number"),
        ({"list": taken["id"], "list_number": 4}, 400, "list_number"),
        ({"list_name": "New", "list_number": 0}, 400, "list_number"),
    ]:
        answer = api.post(IMPORTS, {"file": upload(csv_bytes(MIXED_ROWS)), **data}, format="multipart")
        error = assert_error(answer, code, "conflict" if code == 409 else "invalid_request_error")
        assert field in error["fields"], (data, error)
    assert numbers(api.tenant) == [("Taken", 3)]


@pytest.mark.django_db
def test_the_import_service_takes_list_number():
    client = ClientFactory()
    job = contact_import_create(
        client=client, file=upload(csv_bytes(MIXED_ROWS)), file_name="a.csv", list_name="Fair", list_number=2
    )
    assert job.contact_list is not None
    assert job.contact_list.number == 2


# --- resolving integer list ids -----------------------------------------------------------------


@pytest.mark.django_db
def test_refs_resolve_numbers_and_ids_in_order_distinct():
    client = ClientFactory()
    a, b = contact_list_create(client=client, name="A"), contact_list_create(client=client, name="B")
    refs: list[object] = [2, str(a.pk), 1, b.pk, str(b.pk).upper()]
    assert contact_list_ids_by_refs(client=client, refs=refs, field="contact_lists") == [b.pk, a.pk]


@pytest.mark.django_db
def test_refs_of_another_client_or_unknown_are_not_found_naming_each():
    client, other = ClientFactory(), ClientFactory()
    contact_list_create(client=client, name="A")
    theirs = contact_list_create(client=other, name="T")
    contact_list_create(client=other, name="U")  # their number 2
    with pytest.raises(NotFoundError) as caught:
        contact_list_ids_by_refs(client=client, refs=[1, 2, str(theirs.pk), 0, 2**40], field="contact_lists")
    assert caught.value.code == "contact_list_not_found"
    assert caught.value.message == f"Unknown contact list ids: 2, {theirs.pk}, 0, {2**40}."
    assert list(caught.value.fields) == ["contact_lists"]


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["abc", 1.5, True, None, {"id": 1}])
def test_a_ref_that_is_neither_an_id_nor_a_number_is_invalid(bad):
    with pytest.raises(ValidationError) as caught:
        contact_list_ids_by_refs(client=ClientFactory(), refs=[bad], field="contact_lists")
    assert list(caught.value.message_dict) == ["contact_lists"]
