"""Support staff's admin for contacts, lists and imports; the demo data."""

from __future__ import annotations

import pytest

from accounts.models import User
from contacts.demo import ALL_LIST, DEMO_CONTACTS, VIP_LIST, seed_demo_contacts
from contacts.models import Contact, ContactList, ContactListMembership, OptOutSource
from contacts.phones import parse_phone
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory, ContactImportFactory, ContactListFactory, add_members

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def data():
    acme = ClientFactory(name="Acme")
    amina = ContactFactory(client=acme, phone="+256772000001", first_name="Amina", language="eng")
    vip = ContactListFactory(client=acme, name="VIP")
    add_members(vip, amina)
    job = ContactImportFactory(
        client=acme,
        status="completed",
        total_rows=2,
        processed_rows=2,
        invalid=1,
        errors=[{"row": 3, "value": "<b>x</b>", "reason": "Not a phone number: it contains letters."}],
    )
    return acme, amina, vip, job


@pytest.mark.parametrize(
    "url",
    [
        "/admin/contacts/contact/",
        "/admin/contacts/contact/?q=amina",
        "/admin/contacts/contact/?q=0772000001",
        "/admin/contacts/contact/?opted_out__exact=1&language__exact=eng",
        "/admin/contacts/contact/add/",
        "/admin/contacts/contactlist/?q=vip",
        "/admin/contacts/contactlist/add/",
        "/admin/contacts/contactlistmembership/",
        "/admin/contacts/contactimport/?status__exact=completed",
    ],
)
def test_admin_pages_load(staff, data, url):
    assert staff.get(url).status_code == 200


def test_search_by_national_phone_finds_the_contact(staff, data):
    _, amina, *_ = data
    ContactFactory(first_name="Other")
    page = staff.get("/admin/contacts/contact/?q=0772 000 001").content.decode()
    assert str(amina.pk) in page
    assert "Other" not in page


def test_change_pages_show_lists_and_import_errors_escaped(staff, data):
    _, amina, _, job = data
    assert "VIP" in staff.get(f"/admin/contacts/contact/{amina.pk}/change/").content.decode()
    page = staff.get(f"/admin/contacts/contactimport/{job.pk}/change/").content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "2 / 2 (100%)" in page


def test_adding_a_contact_goes_through_the_phone_parser(staff, data):
    acme, *_ = data
    response = staff.post(
        "/admin/contacts/contact/add/",
        {"client": acme.pk, "phone": "0772 000 002", "first_name": "Ann", "last_name": "", "fields": "{}"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Contact.objects.get(client=acme, phone="+256772000002").first_name == "Ann"


@pytest.mark.parametrize(
    ("phone", "fields", "message"),
    [
        ("12", "{}", "Too short for a phone number in Uganda."),
        ("+256772000001", "{}", "already has this phone"),
        ("+256772000003", '{"Bad Key": "x"}', "is not a valid field key"),
        ("+256772000003", '{"city": "Kam\\u0000pala"}', "must not contain the NUL character"),  # was a 500
    ],
)
def test_admin_refuses_what_the_api_refuses(staff, data, phone, fields, message):
    acme, *_ = data
    before = Contact.objects.count()
    response = staff.post(
        "/admin/contacts/contact/add/", {"client": acme.pk, "phone": phone, "last_name": "", "fields": fields}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Contact.objects.count() == before


def test_editing_a_contact_in_the_admin(staff, data):
    acme, amina, *_ = data
    response = staff.post(
        f"/admin/contacts/contact/{amina.pk}/change/",
        {
            "client": acme.pk,
            "phone": "+256772000001",
            "first_name": "Amina B.",
            "last_name": "",
            "language": "fra",
            "fields": '{"param1": "x"}',
        },
    )
    assert response.status_code == 302
    amina.refresh_from_db()
    assert (amina.first_name, amina.language, amina.fields) == ("Amina B.", "fra", {"param1": "x"})


def test_opt_out_and_delete_actions(staff, data):
    _, amina, vip, _ = data
    staff.post("/admin/contacts/contact/", {"action": "opt_out_contacts", "_selected_action": [amina.pk]})
    amina.refresh_from_db()
    assert (amina.opted_out, amina.opted_out_source) == (True, OptOutSource.ADMIN)
    staff.post("/admin/contacts/contact/", {"action": "opt_in_contacts", "_selected_action": [amina.pk]})
    amina.refresh_from_db()
    assert amina.opted_out is False
    staff.post("/admin/contacts/contact/", {"action": "delete_contacts", "_selected_action": [amina.pk]})
    assert not Contact.objects.filter(pk=amina.pk).exists()
    vip.refresh_from_db()
    assert vip.contact_count == 0


def test_recount_action(staff, data):
    _, _, vip, _ = data
    ContactList.objects.filter(pk=vip.pk).update(contact_count=50)
    staff.post("/admin/contacts/contactlist/", {"action": "recount", "_selected_action": [vip.pk]})
    vip.refresh_from_db()
    assert vip.contact_count == 1


def test_imports_and_memberships_are_read_only(staff, data):
    *_, job = data
    assert staff.get("/admin/contacts/contactimport/add/").status_code == 403
    assert staff.post(f"/admin/contacts/contactimport/{job.pk}/change/", {"status": "failed"}).status_code == 403
    assert staff.get("/admin/contacts/contactlistmembership/add/").status_code == 403


# --- demo ---------------------------------------------------------------------------------------


def test_demo_contacts_are_valid_and_seeding_twice_creates_nothing_new():
    client = ClientFactory(country="UG")
    first = seed_demo_contacts(client=client)
    assert len(first.contacts) == len(DEMO_CONTACTS) == 20
    assert all(parse_phone(c.phone) == c.phone for c in first.contacts)
    assert {c.phone[:4] for c in first.contacts} == {"+256", "+254", "+336", "+337", "+120", "+141", "+121"}
    assert {c.language for c in first.contacts} == {"eng", "fra", None}
    everyone, vip = first.lists
    assert (everyone.name, vip.name) == (ALL_LIST, VIP_LIST)
    counts = (Contact.objects.count(), ContactList.objects.count(), ContactListMembership.objects.count())
    second = seed_demo_contacts(client=client)
    assert [c.pk for c in second.contacts] == [c.pk for c in first.contacts]
    assert (Contact.objects.count(), ContactList.objects.count(), ContactListMembership.objects.count()) == counts
    everyone.refresh_from_db()
    vip.refresh_from_db()
    assert (everyone.contact_count, vip.contact_count) == (20, 4)  # VIP: the gold tier


def test_queue_again_action_runs_pending_imports(staff, django_capture_on_commit_callbacks):
    from contacts.imports import contact_import_create
    from tests.contacts.files import MIXED_ROWS, csv_bytes, upload

    acme = ClientFactory()
    job = contact_import_create(client=acme, file=upload(csv_bytes(MIXED_ROWS)), file_name="c.csv")
    finished = ContactImportFactory(client=acme, status="completed")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        staff.post("/admin/contacts/contactimport/", {"action": "run_again", "_selected_action": [job.pk, finished.pk]})
    assert callbacks[0].__qualname__ == "contact_import_enqueue.<locals>.enqueue"
    job.refresh_from_db()
    assert (job.status, job.created) == ("completed", 3)
