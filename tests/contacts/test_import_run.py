"""Running an import: counts, row errors, update_existing, lists, progress per chunk, running twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import IntegrityError, connection

from contacts.imports import contact_import_create, contact_import_run, writer
from contacts.imports import services as import_services
from contacts.imports.rows import NUL_REASON
from contacts.models import Contact, ContactImport, ContactListMembership, OptOutSource
from contacts.services import contact_apply_keyword
from tests.contacts.files import MIXED_ERRORS, MIXED_ROWS, csv_bytes, upload, xlsx_bytes
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members

pytestmark = pytest.mark.django_db


def run(client, data, *, name="contacts.csv", chunk_size=10_000, **options):
    job = contact_import_create(client=client, file=upload(data, name), file_name=name, **options)
    done = contact_import_run(contact_import_id=job.id, chunk_size=chunk_size)
    assert done is not None
    return done


def counts(job):
    return {
        "status": job.status,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "created": job.created,
        "updated": job.updated,
        "invalid": job.invalid,
        "duplicates": job.duplicates,
    }


MIXED_COUNTS = {
    "status": "completed",
    "total_rows": 8,
    "processed_rows": 8,
    "created": 3,
    "updated": 0,
    "invalid": 4,
    "duplicates": 1,
}

FILES = {
    "csv-comma-utf8": (lambda: csv_bytes(MIXED_ROWS), "c.csv"),
    "csv-semicolon-utf8-bom": (lambda: csv_bytes(MIXED_ROWS, delimiter=";", bom=True), "c.csv"),
    "csv-tab-latin1": (lambda: csv_bytes(MIXED_ROWS, delimiter="\t", encoding="latin-1"), "c.txt"),
    "csv-semicolon-cp1252": (lambda: csv_bytes(MIXED_ROWS, delimiter=";", encoding="cp1252"), "c.csv"),
    "xlsx": (lambda: xlsx_bytes(MIXED_ROWS), "c.xlsx"),
}


@pytest.mark.parametrize("kind", list(FILES))
def test_a_mixed_file_in_every_format_and_encoding(tenant, kind):
    make, name = FILES[kind]
    job = run(tenant, make(), name=name)
    assert counts(job) == MIXED_COUNTS
    assert job.errors == MIXED_ERRORS
    assert job.file_format == ("xlsx" if kind == "xlsx" else "csv")
    contacts = {c.phone: c for c in Contact.objects.filter(client=tenant)}
    assert sorted(contacts) == ["+254712000003", "+256772000001", "+256772000002"]
    amina, helene, wanjiru = contacts["+256772000001"], contacts["+256772000002"], contacts["+254712000003"]
    assert (amina.first_name, amina.last_name, amina.language) == ("Amina", "Nakato", "eng")
    assert amina.fields == {"param_1": "p1", "city": "Kampala"}
    assert (helene.first_name, helene.last_name, helene.language) == ("Hélène", "Noël", "fra")
    assert helene.fields == {"city": "Gulu"}
    assert (wanjiru.first_name, wanjiru.language, wanjiru.fields) == ("Wanjiru", None, {"param_1": "p3"})
    assert not any(c.opted_out for c in contacts.values())


def test_imported_contacts_are_listed_in_file_order_newest_last(tenant):
    run(tenant, csv_bytes([["phone"], ["+256772000001"], ["+256772000002"], ["+256772000003"]]))
    newest_first = list(Contact.objects.filter(client=tenant).values_list("phone", flat=True))
    assert newest_first == ["+256772000003", "+256772000002", "+256772000001"]


@pytest.fixture
def existing(tenant):
    return ContactFactory(
        client=tenant, phone="+256772000001", first_name="Old", last_name="Keep", language=None, fields={"x": "1"}
    )


def test_without_update_existing_existing_contacts_are_left_alone(tenant, existing):
    job = run(tenant, csv_bytes(MIXED_ROWS))
    assert counts(job) == MIXED_COUNTS | {"created": 2}
    existing.refresh_from_db()
    assert (existing.first_name, existing.last_name, existing.language, existing.fields) == (
        "Old",
        "Keep",
        None,
        {"x": "1"},
    )


def test_with_update_existing_values_are_updated_and_fields_merged(tenant, existing):
    job = run(
        tenant,
        csv_bytes([["phone", "first_name", "last_name", "language", "param1"], ["0772000001", "New", "", "fr", "p"]]),
        update_existing=True,
    )
    assert counts(job) | {} == {
        "status": "completed",
        "total_rows": 1,
        "processed_rows": 1,
        "created": 0,
        "updated": 1,
        "invalid": 0,
        "duplicates": 0,
    }
    existing.refresh_from_db()
    # A blank cell leaves the value as it was.
    assert (existing.first_name, existing.last_name, existing.language) == ("New", "Keep", "fra")
    assert existing.fields == {"x": "1", "param1": "p"}


def test_an_unchanged_contact_is_not_counted_as_updated(tenant, existing):
    data = csv_bytes([["phone", "first_name", "x"], ["+256772000001", "Old", "1"]])
    before = Contact.objects.get(pk=existing.pk).updated_at
    job = run(tenant, data, update_existing=True)
    assert (job.created, job.updated) == (0, 0)
    assert Contact.objects.get(pk=existing.pk).updated_at == before


def test_an_opted_out_column_opts_out_but_never_back_in(tenant):
    was_out = ContactFactory(
        client=tenant,
        phone="+256772000002",
        opted_out=True,
        opted_out_at=datetime(2026, 1, 1, tzinfo=UTC),
        opted_out_source=OptOutSource.KEYWORD,
    )
    data = csv_bytes([["phone", "opted_out"], ["+256772000001", "yes"], ["+256772000002", "no"], ["+256772000003", ""]])
    job = run(tenant, data, update_existing=True)
    assert (job.created, job.updated, job.invalid) == (2, 0, 0)
    one = Contact.objects.get(client=tenant, phone="+256772000001")
    assert (one.opted_out, one.opted_out_source) == (True, OptOutSource.IMPORT)
    assert one.opted_out_at is not None
    was_out.refresh_from_db()
    assert (was_out.opted_out, was_out.opted_out_source) == (True, OptOutSource.KEYWORD)
    assert not Contact.objects.get(client=tenant, phone="+256772000003").opted_out


def test_an_import_that_opts_out_is_newer_than_every_earlier_keyword(tenant):
    """The import's time is the opt-out's: a keyword sent before it never opts the contact back in."""
    existing = ContactFactory(client=tenant, phone="+256772000004")
    contact_apply_keyword(contact=existing, text="START", at=datetime(2026, 5, 1, tzinfo=UTC))
    data = csv_bytes([["phone", "opted_out"], ["+256772000004", "yes"], ["+256772000005", "yes"]])
    assert run(tenant, data, update_existing=True).updated == 1
    for contact in Contact.objects.filter(client=tenant, phone__in=["+256772000004", "+256772000005"]):
        assert (contact.opted_out, contact.opted_out_source) == (True, OptOutSource.IMPORT)
        assert contact.opt_out_changed_at == contact.opt_out_requested_at == contact.opted_out_at
        assert contact.opted_out_at > datetime(2026, 6, 1, tzinfo=UTC)
        assert contact_apply_keyword(contact=contact, text="START", at=datetime(2026, 6, 1, tzinfo=UTC)).outdated


def test_an_import_can_opt_out_an_existing_contact(tenant, existing):
    job = run(tenant, csv_bytes([["phone", "opt-out"], ["+256772000001", "1"]]), update_existing=True)
    assert job.updated == 1
    existing.refresh_from_db()
    assert (existing.opted_out, existing.opted_out_source) == (True, OptOutSource.IMPORT)


def test_a_bad_opted_out_value_is_a_row_error(tenant):
    job = run(tenant, csv_bytes([["phone", "opted_out"], ["+256772000001", "maybe"]]))
    assert job.errors == [
        {"row": 2, "value": "maybe", "reason": "opted_out must be yes or no (or 1/0, true/false, empty)."}
    ]


def test_every_row_goes_into_the_list_counted_once(tenant, existing):
    vip = ContactListFactory(client=tenant)
    already = ContactFactory(client=tenant, phone="+254712000003")
    add_members(vip, already)
    job = run(tenant, csv_bytes(MIXED_ROWS), list_id=vip.id)
    assert job.contact_list_id == vip.id
    members = set(ContactListMembership.objects.filter(contact_list=vip).values_list("contact__phone", flat=True))
    assert members == {"+256772000001", "+256772000002", "+254712000003"}
    vip.refresh_from_db()
    assert vip.contact_count == 3


def test_list_name_creates_the_list_or_reuses_it(tenant):
    job = run(tenant, csv_bytes([["phone"], ["+256772000001"]]), list_name="March fair")
    assert job.contact_list.name == "March fair"
    again = run(tenant, csv_bytes([["phone"], ["+256772000002"]]), list_name="March fair")
    assert again.contact_list_id == job.contact_list_id
    job.contact_list.refresh_from_db()
    assert job.contact_list.contact_count == 2


def test_telegram_only_rows(tenant):
    ContactFactory(client=tenant, phone="+256772000009", telegram_chat_id="555")
    data = csv_bytes(
        [
            ["phone", "telegram_chat_id", "first_name"],
            ["", "111", "Tele"],  # row 2: new, by chat id
            ["", "111", "Again"],  # row 3: duplicate chat id
            ["+256772000001", "222", "Both"],  # row 4
            ["+256772000002", "222", "Clash"],  # row 5: chat id of row 4
            ["+256772000003", "555", "Taken"],  # row 6: chat id of another contact
            ["", "abc", "Bad"],  # row 7
        ]
    )
    job = run(tenant, data)
    assert counts(job) == {
        "status": "completed",
        "total_rows": 6,
        "processed_rows": 6,
        "created": 2,
        "updated": 0,
        "invalid": 3,
        "duplicates": 1,
    }
    assert job.errors == [
        {"row": 5, "value": "222", "reason": "This telegram_chat_id is also on row 4."},
        {"row": 6, "value": "555", "reason": "This telegram_chat_id already belongs to another contact."},
        {"row": 7, "value": "abc", "reason": "A Telegram chat id is a whole number, e.g. 123456789."},
    ]
    tele = Contact.objects.get(client=tenant, telegram_chat_id="111")
    assert (tele.phone, tele.first_name) == (None, "Tele")
    assert Contact.objects.get(client=tenant, phone="+256772000001").telegram_chat_id == "222"


def test_a_chat_id_updates_the_contact_that_has_it(tenant):
    contact = ContactFactory(client=tenant, phone=None, telegram_chat_id="111", first_name="Old")
    job = run(tenant, csv_bytes([["telegram", "first_name"], ["111", "New"]]), update_existing=True)
    assert (job.created, job.updated) == (0, 1)
    contact.refresh_from_db()
    assert contact.first_name == "New"


def test_xlsx_numbers_without_plus_are_read_with_the_clients_country(tenant):
    job = run(tenant, xlsx_bytes([["phone", "score"], [256772000001, 12], [772000002, 3.5]]), name="c.xlsx")
    assert (job.created, job.invalid) == (2, 0)
    assert sorted(Contact.objects.filter(client=tenant).values_list("phone", "fields")) == [
        ("+256772000001", {"score": "12"}),
        ("+256772000002", {"score": "3.5"}),
    ]


def test_only_the_first_100_errors_are_kept(tenant):
    rows = [["phone"]] + [[f"bad{i}"] for i in range(150)] + [["+256772000001"]]
    job = run(tenant, csv_bytes(rows), chunk_size=40)
    assert (job.invalid, job.created, len(job.errors)) == (150, 1, 100)
    assert [e["row"] for e in job.errors] == list(range(2, 102))


@pytest.mark.parametrize(("column", "shown"), [(0, "+25677210\ufffd2720"), (1, "Am\ufffdina"), (3, "Kam\ufffdpala")])
def test_a_nul_past_the_first_64_kb_rejects_just_its_row(tenant, column, shown):
    # The first 64 KB are sniffed for NULs (a binary file); a NUL after that used to fail the job's
    # COPY, losing the good rows of its chunk. Now it is that row's error and the rest import.
    rows = [["phone", "first_name", "last_name", "city"]]
    rows += [[f"+25677210{i:04d}", "Amina", "Nakato", "Kampala"] for i in range(3000)]
    bad = 2720  # file row 2722, well past 64 KB, mid-chunk
    rows[bad + 1][column] = {0: "+25677210\x002720", 1: "Am\x00ina", 3: "Kam\x00pala"}[column]
    data = csv_bytes(rows)
    assert data.index(b"\x00") > 65_536
    job = run(tenant, data, chunk_size=500)
    assert counts(job) == {
        "status": "completed",
        "total_rows": 3000,
        "processed_rows": 3000,
        "created": 2999,
        "updated": 0,
        "invalid": 1,
        "duplicates": 0,
    }
    assert job.errors == [{"row": 2722, "value": shown, "reason": NUL_REASON}]
    phones = set(Contact.objects.filter(client=tenant).values_list("phone", flat=True))
    assert phones == {f"+25677210{i:04d}" for i in range(3000)} - {"+256772102720"}


def test_contacts_of_another_client_are_never_touched(tenant):
    theirs = ContactFactory(client=ClientFactory(), phone="+256772000001", first_name="Theirs")
    job = run(tenant, csv_bytes([["phone", "first_name"], ["+256772000001", "Mine"]]), update_existing=True)
    assert (job.created, job.updated) == (1, 0)
    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs"


# --- chunks, progress, running twice -------------------------------------------------------------


def test_running_twice_does_nothing_the_second_time(tenant):
    job = run(tenant, csv_bytes(MIXED_ROWS))
    again = contact_import_run(contact_import_id=job.id)
    assert counts(again) == MIXED_COUNTS
    assert Contact.objects.filter(client=tenant).count() == 3


def test_counts_do_not_depend_on_the_chunk_size(tenant):
    for size in (1, 2, 3, 100):
        client = ClientFactory()
        assert counts(run(client, csv_bytes(MIXED_ROWS), chunk_size=size)) == MIXED_COUNTS


class WorkerDied(BaseException):
    pass


def test_a_run_that_dies_is_resumed_where_it_stopped(tenant, monkeypatch):
    job = contact_import_create(client=tenant, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")
    real = writer.write_chunk
    calls = []

    def dies_on_the_third_chunk(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise WorkerDied
        return real(**kwargs)

    monkeypatch.setattr(import_services, "write_chunk", dies_on_the_third_chunk)
    with pytest.raises(WorkerDied):
        contact_import_run(contact_import_id=job.id, chunk_size=2)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created) == ("processing", 4, 2)
    monkeypatch.setattr(import_services, "write_chunk", real)
    done = contact_import_run(contact_import_id=job.id, chunk_size=2)
    assert counts(done) == MIXED_COUNTS
    assert done.errors == MIXED_ERRORS
    assert Contact.objects.filter(client=tenant).count() == 3


def test_a_run_while_another_holds_the_job_does_nothing(tenant):
    job = contact_import_create(client=tenant, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [import_services._LOCK_NAMESPACE, str(job.id)])
        assert contact_import_run(contact_import_id=job.id) is None
        # Released here, synchronously: closing the connection frees the lock only when the server
        # has ended that session, which the next run could beat (one run in three failed so).
        other.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [import_services._LOCK_NAMESPACE, str(job.id)])
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("pending", 0)
    assert contact_import_run(contact_import_id=job.id).status == "completed"


def test_a_race_on_a_new_phone_retries_the_chunk(tenant, monkeypatch):
    job = contact_import_create(client=tenant, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")
    real = writer.write_chunk
    calls = []

    def first_attempt_loses_a_race(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(**kwargs)

    monkeypatch.setattr(import_services, "write_chunk", first_attempt_loses_a_race)
    assert counts(contact_import_run(contact_import_id=job.id)) == MIXED_COUNTS


def test_a_failure_on_our_side_fails_the_job_and_says_so(tenant, monkeypatch):
    job = contact_import_create(client=tenant, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")

    def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(import_services, "write_chunk", broken)
    with pytest.raises(RuntimeError):
        contact_import_run(contact_import_id=job.id)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.errors[-1] == {
        "row": None,
        "value": None,
        "reason": "The import failed on our side; the rows written so far are kept.",
    }


def test_a_vanished_file_fails_the_job(tenant):
    job = contact_import_create(client=tenant, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")
    job.file.storage.delete(job.file.name)
    done = contact_import_run(contact_import_id=job.id)
    assert done.status == "failed"
    assert done.failure_reason == "The uploaded file can no longer be read."
    assert Contact.objects.count() == 0


def test_the_file_is_deleted_once_the_import_completes(tenant, django_capture_on_commit_callbacks):
    job = contact_import_create(client=tenant, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")
    storage, name = job.file.storage, job.file.name
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        done = contact_import_run(contact_import_id=job.id)
    assert not storage.exists(name)
    assert done.file.name == ""
    assert done.file_name == "c.csv"


def test_an_unknown_job_is_ignored():
    assert contact_import_run(contact_import_id="00000000-0000-0000-0000-000000000000") is None


@pytest.mark.django_db(transaction=True)
def test_progress_is_committed_and_visible_while_it_runs(monkeypatch):
    """Each chunk commits its rows and processed_rows together: another connection sees them grow."""
    client = ClientFactory()
    # Committed for real here, so the task would run at once; run it by hand with small chunks instead.
    monkeypatch.setattr("contacts.tasks.contact_import_process.apply_async", lambda *args, **kwargs: None)
    job = contact_import_create(client=client, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")
    real = import_services._commit_chunk
    seen = []

    def observe(*args, **kwargs):
        real(*args, **kwargs)
        result = {}

        def read_from_another_connection():
            from django.db import connections

            try:
                fresh = ContactImport.objects.get(pk=job.pk)
                result["progress"] = (fresh.status, fresh.processed_rows, fresh.created)
                result["contacts"] = Contact.objects.filter(client=client).count()
            finally:
                connections.close_all()

        reader = threading.Thread(target=read_from_another_connection)
        reader.start()
        reader.join()
        seen.append((*result["progress"], result["contacts"]))

    monkeypatch.setattr(import_services, "_commit_chunk", observe)
    contact_import_run(contact_import_id=job.id, chunk_size=3)
    assert seen == [
        ("processing", 3, 2, 2),  # rows 2-4: two new, one duplicate
        ("processing", 6, 3, 3),  # rows 5, 6, 8
        ("processing", 8, 3, 3),  # rows 9, 10
    ]
    assert ContactImport.objects.get(pk=job.pk).status == "completed"


def test_contacts_an_import_opts_out_are_announced_once_each(tenant, existing, settings):
    """contact.opted_out for every contact this import opted out (an existing one it changed, a new
    one created opted out, with a list and without), never for one that already was."""
    from webhooks.models import WebhookEvent
    from webhooks.services import webhook_endpoint_create

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=tenant, url="http://127.0.0.1:9/hooks", events=["contact.opted_out"])
    ContactFactory(
        client=tenant,
        phone="+256772000002",
        opted_out=True,
        opted_out_at=datetime(2026, 1, 1, tzinfo=UTC),
        opted_out_source=OptOutSource.KEYWORD,
    )
    rows = [["phone", "opted_out"], ["+256772000001", "yes"], ["+256772000002", "yes"], ["+256772000004", "yes"]]
    run(tenant, csv_bytes([*rows, ["+256772000005", "no"]]), update_existing=True)
    run(
        tenant,
        csv_bytes([["phone", "opted_out"], ["+256772000006", "yes"]]),
        list_id=ContactListFactory(client=tenant).id,
    )
    announced = [e.data for e in WebhookEvent.objects.filter(type="contact.opted_out").order_by("id")]
    assert sorted(e["phone"] for e in announced) == ["+256772000001", "+256772000004", "+256772000006"]
    assert {e["source"] for e in announced} == {"import"}
    assert all(e["opted_out_at"] for e in announced)
    # Running the same file again changes nothing, so announces nothing.
    run(tenant, csv_bytes(rows), update_existing=True)
    assert WebhookEvent.objects.filter(type="contact.opted_out").count() == 3
