"""A contact's `timezone` (SPEC §5, issue 22): IANA names through the API, imports and the admin;
anything else is refused naming the field (API) or the row (import), and nothing changes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from contacts.admin import ContactAdminForm
from contacts.imports import contact_import_create, contact_import_run
from contacts.models import Contact
from contacts.services import contact_clean, contact_create, contact_update
from contacts.validation import validate_timezone
from tests.contacts.files import csv_bytes, upload
from tests.factories.contacts import ContactFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Africa/Kampala", "Africa/Kampala"),
        ("  america/new_york ", "America/New_York"),  # IANA's own spelling is kept
        ("UTC", "UTC"),
        ("", ""),
        (None, ""),
    ],
)
def test_validate_timezone_answers_the_iana_spelling(given, stored):
    assert validate_timezone(given) == stored


@pytest.mark.parametrize("given", ["Mars/Olympus", "GMT+3", "Europe/Pariss", 3])
def test_validate_timezone_refuses_what_is_not_a_zone(given):
    with pytest.raises(ValidationError) as caught:
        validate_timezone(given)
    assert caught.value.code == "invalid_timezone"


def test_the_api_creates_reads_and_updates_a_timezone(api):
    created = api.post(URL, {"phone": "+256772000001", "timezone": "pacific/kiritimati"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["timezone"] == "Pacific/Kiritimati"
    contact_id = created.json()["id"]
    assert api.get(f"{URL}{contact_id}/").json()["timezone"] == "Pacific/Kiritimati"
    changed = api.patch(f"{URL}{contact_id}/", {"timezone": "America/New_York"}, format="json")
    assert changed.json()["timezone"] == "America/New_York"
    untouched = api.patch(f"{URL}{contact_id}/", {"first_name": "Ana"}, format="json")
    assert untouched.json()["timezone"] == "America/New_York"  # PATCH without it keeps it
    cleared = api.patch(f"{URL}{contact_id}/", {"timezone": None}, format="json")
    assert cleared.json()["timezone"] is None
    assert Contact.objects.get(pk=contact_id).timezone == ""


def test_a_contact_without_a_timezone_reads_null(api):
    created = api.post(URL, {"phone": "+256772000001"}, format="json")
    assert created.json()["timezone"] is None


@pytest.mark.parametrize("value", ["Mars/Olympus", "x" * 65, 7])
def test_the_api_refuses_an_unknown_timezone_naming_it_and_changes_nothing(api, value):
    error = assert_error(
        api.post(URL, {"phone": "+256772000001", "timezone": value}, format="json"), 400, "invalid_request_error"
    )
    assert list(error["fields"]) == ["timezone"]
    assert not Contact.objects.exists()
    contact = ContactFactory(client=api.tenant, timezone="Africa/Kampala")
    error = assert_error(
        api.patch(f"{URL}{contact.pk}/", {"timezone": value}, format="json"), 400, "invalid_request_error"
    )
    assert list(error["fields"]) == ["timezone"]
    contact.refresh_from_db()
    assert contact.timezone == "Africa/Kampala"


def test_services_validate_the_timezone(tenant):
    contact = contact_create(client=tenant, phone="+256772000001", timezone="Asia/Tokyo")
    assert contact.timezone == "Asia/Tokyo"
    with pytest.raises(ValidationError) as caught:
        contact_update(contact=contact, data={"timezone": "Asia/Tokio"})
    assert caught.value.message_dict == {"timezone": ["'Asia/Tokio' is not an IANA time zone (e.g. Africa/Kampala, "
                                                      "America/New_York)."]}  # fmt: skip


def test_the_admin_form_checks_and_normalizes_the_timezone(tenant):
    form = ContactAdminForm(data={"client": tenant.pk, "phone": "+256772000001", "timezone": "europe/paris"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["timezone"] == "Europe/Paris"
    bad = ContactAdminForm(data={"client": tenant.pk, "phone": "+256772000001", "timezone": "Europe/Lutetia"})
    assert not bad.is_valid()
    assert "timezone" in bad.errors
    assert contact_clean(client=tenant, data={"phone": "+256772000002", "timezone": ""})["timezone"] == ""


def run(client, data, **options):
    job = contact_import_create(client=client, file=upload(data, "c.csv"), file_name="c.csv", **options)
    done = contact_import_run(contact_import_id=job.id)
    assert done is not None
    return done


def test_an_import_reads_a_timezone_column_and_refuses_a_bad_value_as_a_row_error(tenant):
    job = run(
        tenant,
        csv_bytes(
            [
                ["phone", "first_name", "Time zone"],
                ["+256772000001", "A", "Pacific/Honolulu"],
                ["+256772000002", "B", "asia/tokyo"],
                ["+256772000003", "C", ""],
                ["+256772000004", "D", "Atlantis/Capital"],
            ]
        ),
    )
    assert (job.created, job.invalid) == (3, 1)
    assert job.errors == [
        {
            "row": 5,
            "value": "Atlantis/Capital",
            "reason": "'Atlantis/Capital' is not an IANA time zone (e.g. Africa/Kampala, America/New_York).",
        }
    ]
    zones = dict(Contact.objects.filter(client=tenant).values_list("phone", "timezone"))
    assert zones == {"+256772000001": "Pacific/Honolulu", "+256772000002": "Asia/Tokyo", "+256772000003": ""}
    assert all("timezone" not in fields for fields in Contact.objects.values_list("fields", flat=True))


def test_an_import_updates_a_timezone_and_a_blank_cell_keeps_it(tenant):
    kept = ContactFactory(client=tenant, phone="+256772000001", timezone="Africa/Kampala")
    moved = ContactFactory(client=tenant, phone="+256772000002", timezone="Africa/Kampala")
    job = run(
        tenant,
        csv_bytes([["phone", "tz"], ["+256772000001", ""], ["+256772000002", "Europe/Paris"]]),
        update_existing=True,
    )
    assert (job.created, job.updated, job.invalid) == (0, 1, 0)
    kept.refresh_from_db()
    moved.refresh_from_db()
    assert (kept.timezone, moved.timezone) == ("Africa/Kampala", "Europe/Paris")
