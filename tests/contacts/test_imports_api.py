"""/api/v1/contact-imports/: 202 with the job, progress readable, bad files 400 before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contacts.imports import contact_import_create
from contacts.models import Contact, ContactImport, ContactList
from tests.contacts.files import MIXED_ERRORS, MIXED_ROWS, csv_bytes, upload, xlsx_bytes
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactImportFactory, ContactListFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/contact-imports/"
JOB_FIELDS = {
    "id",
    "status",
    "total_rows",
    "processed_rows",
    "created",
    "updated",
    "invalid",
    "duplicates",
    "errors",
    "list",
}


def stored_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def nothing_written(settings):
    return (ContactImport.objects.count(), ContactList.objects.count(), Contact.objects.count(), stored_files(settings))


def test_an_import_is_accepted_with_202_and_runs_in_celery(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(URL, {"file": upload(csv_bytes(MIXED_ROWS))}, format="multipart")
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == JOB_FIELDS
    assert body | {"id": None} == {
        "id": None,
        "status": "pending",
        "total_rows": 8,
        "processed_rows": 0,
        "created": 0,
        "updated": 0,
        "invalid": 0,
        "duplicates": 0,
        "errors": [],
        "list": None,
    }
    # Enqueued only after the commit: the first on-commit callback queues the task.
    assert callbacks[0].__qualname__ == "contact_import_enqueue.<locals>.enqueue"
    job = api.get(f"{URL}{body['id']}/").json()
    assert job | {"id": None} == {
        "id": None,
        "status": "completed",
        "total_rows": 8,
        "processed_rows": 8,
        "created": 3,
        "updated": 0,
        "invalid": 4,
        "duplicates": 1,
        "errors": MIXED_ERRORS,
        "list": None,
    }
    assert Contact.objects.filter(client=api.tenant).count() == 3


def test_xlsx_into_a_list_with_update_existing(api, django_capture_on_commit_callbacks):
    vip = ContactListFactory(client=api.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            URL,
            {"file": upload(xlsx_bytes(MIXED_ROWS), "c.xlsx"), "list": str(vip.id), "update_existing": "true"},
            format="multipart",
        )
    assert response.status_code == 202
    job = ContactImport.objects.get(pk=response.json()["id"])
    assert (job.file_format, job.update_existing, job.contact_list_id) == ("xlsx", True, vip.id)
    assert response.json()["list"] == str(vip.id)
    vip.refresh_from_db()
    assert vip.contact_count == 3


def test_list_name_makes_a_list(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = api.post(URL, {"file": upload(csv_bytes(MIXED_ROWS)), "list_name": "Fair"}, format="multipart").json()
    fair = ContactList.objects.get(client=api.tenant, name="Fair")
    assert body["list"] == str(fair.id)
    fair.refresh_from_db()
    assert fair.contact_count == 3


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"", "empty.csv", "empty"),  # DRF refuses an empty upload itself
        (b"\n\n", "blank.csv", "empty_file"),
        (csv_bytes([["phone", "first_name"]]), "header.csv", "empty_file"),
        (csv_bytes([["name", "email"], ["Ann", "a@example.com"]]), "nophone.csv", "missing_phone_column"),
        (xlsx_bytes([["name"], ["Ann"]]), "nophone.xlsx", "missing_phone_column"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "contacts.pdf", "unsupported_file_type"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "contacts.csv", "unsupported_file_type"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "contacts.xls", "unsupported_file_type"),
        (b"PK\x03\x04not really a workbook", "contacts.xlsx", "unsupported_file_type"),
        (csv_bytes([["phone", "mobile"], ["1", "2"]]), "two.csv", "invalid_header"),
    ],
)
def test_bad_files_get_400_and_nothing_is_written(api, settings, data, name, code):
    before = nothing_written(settings)
    error = assert_error(
        api.post(URL, {"file": upload(data, name), "list_name": "Never"}, format="multipart"),
        400,
        "invalid_request_error",
        code,
    )
    assert list(error["fields"]) == ["file"]
    assert nothing_written(settings) == before


def test_an_upload_with_an_idempotency_key_is_accepted_once_and_replayed(api):
    # Multipart bodies are fingerprinted too (this used to answer 500).
    first = api.post(URL, {"file": upload(csv_bytes(MIXED_ROWS))}, format="multipart", HTTP_IDEMPOTENCY_KEY="imp-1")
    again = api.post(URL, {"file": upload(csv_bytes(MIXED_ROWS))}, format="multipart", HTTP_IDEMPOTENCY_KEY="imp-1")
    assert (first.status_code, again.status_code) == (202, 202), first.content
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert ContactImport.objects.filter(client=api.tenant).count() == 1


def test_a_nul_in_a_header_past_the_first_64_kb_is_quoted_without_it(api, settings):
    # The error quotes the header; with a raw NUL the idempotent reply could not be stored (jsonb).
    data = b"\n" * 70_000 + b"phone,\x00\n+256772000001\n"
    before = nothing_written(settings)
    response = api.post(URL, {"file": upload(data)}, format="multipart", HTTP_IDEMPOTENCY_KEY="nul-header")
    error = assert_error(response, 400, "invalid_request_error", "invalid_header")
    assert error["fields"] == {"file": ["The column header '\ufffd' has no letters or digits to name a field."]}
    assert nothing_written(settings) == before


def test_more_than_a_million_rows_get_400_and_nothing_is_written(tenant, settings):
    from django.core.exceptions import ValidationError

    data = b"phone\n" + b"+256772000001\n" * 1_000_001
    before = nothing_written(settings)
    with pytest.raises(ValidationError) as caught:
        contact_import_create(client=tenant, file=upload(data), file_name="big.csv", list_name="Never")
    assert caught.value.message_dict == {
        "file": ["The file has more than 1,000,000 rows; split it into smaller files."]
    }
    assert caught.value.error_dict["file"][0].code == "too_many_rows"
    assert nothing_written(settings) == before


def test_too_many_rows_through_the_api(api, settings, monkeypatch):
    monkeypatch.setattr("contacts.imports.services.MAX_ROWS", 3)
    before = nothing_written(settings)
    assert_error(
        api.post(URL, {"file": upload(b"phone\n" + b"+256772000001\n" * 4)}, format="multipart"),
        400,
        "invalid_request_error",
        "too_many_rows",
    )
    assert nothing_written(settings) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "file"),
        ({"file": "not a file"}, "file"),
        ({"list": "nope"}, "list"),
        ({"list_name": "x" * 256}, "list_name"),
        ({"update_existing": "perhaps"}, "update_existing"),
    ],
)
def test_bad_fields_get_400(api, settings, payload, field):
    if field != "file":
        payload = {"file": upload(csv_bytes(MIXED_ROWS)), **payload}
    before = nothing_written(settings)
    error = assert_error(api.post(URL, payload, format="multipart"), 400, "invalid_request_error")
    assert field in error["fields"], error
    assert nothing_written(settings) == before


def test_list_and_list_name_together_get_400(api, settings):
    vip = ContactListFactory(client=api.tenant)
    before = nothing_written(settings)
    error = assert_error(
        api.post(
            URL, {"file": upload(csv_bytes(MIXED_ROWS)), "list": str(vip.id), "list_name": "x"}, format="multipart"
        ),
        400,
        "invalid_request_error",
    )
    assert list(error["fields"]) == ["list_name"]
    assert nothing_written(settings) == before


@pytest.mark.parametrize("whose", ["another client's", "unknown"])
def test_another_clients_or_an_unknown_list_is_404(api, settings, whose):
    list_id = str(ContactListFactory().id) if whose == "another client's" else "00000000-0000-0000-0000-000000000001"
    before = nothing_written(settings)
    error = assert_error(
        api.post(URL, {"file": upload(csv_bytes(MIXED_ROWS)), "list": list_id}, format="multipart"),
        404,
        "not_found",
        "contact_list_not_found",
    )
    assert error["fields"] == {"list": [f"Unknown contact list id: {list_id}"]}
    assert nothing_written(settings) == before


def test_json_is_not_an_upload(api):
    assert_error(api.post(URL, {"file": "phone\n+256772000001"}, format="json"), 415, "invalid_request_error")


def test_the_upload_is_stored_under_media_root(api, settings):
    body = api.post(URL, {"file": upload(csv_bytes(MIXED_ROWS), "../../etc/passwd.csv")}, format="multipart").json()
    job = ContactImport.objects.get(pk=body["id"])
    assert stored_files(settings) == [f"contact-imports/{api.tenant.id}/{job.id}.csv"]
    assert job.file_name == "passwd.csv"
    assert os.path.commonpath([job.file.path, settings.MEDIA_ROOT]) == settings.MEDIA_ROOT


def test_jobs_are_listed_newest_first_and_filtered(api, django_assert_max_num_queries):
    done = ContactImportFactory(client=api.tenant, status="completed", total_rows=5, processed_rows=5)
    running = ContactImportFactory(client=api.tenant, status="processing", total_rows=5, processed_rows=2)
    ContactImportFactory(status="completed")  # another client's
    api.get(URL)
    with django_assert_max_num_queries(5):
        listed = [j["id"] for j in api.get(URL).json()["results"]]
    assert listed == [str(running.id), str(done.id)]
    assert [j["id"] for j in api.get(f"{URL}?status=completed").json()["results"]] == [str(done.id)]
    assert api.get(f"{URL}{running.id}/").json()["processed_rows"] == 2
    error = assert_error(api.get(f"{URL}?status=done"), 400, "invalid_request_error")
    assert "status" in error["fields"]


def test_another_clients_job_is_404(api):
    theirs = ContactImportFactory(client=ClientFactory())
    assert_error(api.get(f"{URL}{theirs.id}/"), 404, "not_found")


def test_reading_needs_read_and_importing_needs_contacts(make_api, settings):
    reader = make_api(scopes=["read"])
    assert reader.get(URL).status_code == 200
    assert_error(reader.post(URL, {"file": upload(csv_bytes(MIXED_ROWS))}, format="multipart"), 403, "permission_error")
    assert nothing_written(settings) == (0, 0, 0, [])


def test_a_broker_failure_after_commit_still_answers_202(api, monkeypatch, django_capture_on_commit_callbacks):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("contacts.tasks.contact_import_process.apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, {"file": upload(csv_bytes(MIXED_ROWS))}, format="multipart")
    assert response.status_code == 202
    assert ContactImport.objects.get(pk=response.json()["id"]).status == "pending"
