"""The wizard's audience: recipients uploaded as a file (CSV, text or XLSX, parsed by the dashboard
into `recipients`) and contacts picked one by one (a debounced search over contacts' own search)."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Membership
from broadcasts.models import Broadcast, Message
from dashboard.recipient_files import RecipientFileError, parse_recipients
from tests.contacts.files import xlsx_bytes
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory

pytestmark = pytest.mark.django_db

R = Membership.Role
BASE = {"name": "Promo", "channel": "sms", "content_mode": "text", "text": "Hello", "sender": "Herald"}


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("list.txt", b"+256772000001\n\n  +256772000002  \r\n", ["+256772000001", "+256772000002"]),
        ("list.txt", b"phone\n+256772000001\n", ["+256772000001"]),
        ("urns.txt", b"tel:+256772000001\nwhatsapp:+256772000002\n", ["tel:+256772000001", "whatsapp:+256772000002"]),
        (
            "people.csv",
            b"first_name,phone\nAnn,+256772000001\nBob,\nCy,+254712000001\n",
            ["+256772000001", "+254712000001"],
        ),
        ("people.csv", "\ufeffName;Phone\nÇa;+256772000001\n".encode(), ["+256772000001"]),
        ("people.CSV", b"urn\ttag\ntel:+256772000001\tx\n", ["tel:+256772000001"]),
        ("one.csv", b"+256772000001\n+256772000002\n", ["+256772000001", "+256772000002"]),
    ],
)
def test_a_file_becomes_the_recipients_list(name, data, expected):
    assert parse_recipients(name, data) == expected


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # The contact import's header aliases; a number typed as a number reads as its digits.
        (
            [["Name", "Mobile"], ["Ann", 256772000001], ["Bob", None], ["Cy", "+254712000001"]],
            ["256772000001", "+254712000001"],
        ),
        ([["first_name", "phone", "city"], [None, None, None], ["Ann", "0772 000 002", "Gulu"]], ["0772 000 002"]),
        ([["telegram_chat_id"], [123456789]], ["telegram:123456789"]),
    ],
)
def test_an_xlsx_workbook_becomes_the_recipients_list(rows, expected):
    assert parse_recipients("people.xlsx", xlsx_bytes(rows)) == expected


def test_an_xlsx_upload_travels_to_the_review(login, shop, daytime):
    data = xlsx_bytes([["Phone", "First name"], [256772000001, "Ann"], ["+254712000001", "Bob"], ["nope", "Cy"]])
    review = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/", {**BASE, "step": "review", "recipients_file": upload("People.XLSX", data)}
    )
    assert review.status_code == 200
    assert review.context["body"]["recipients"] == ["256772000001", "+254712000001", "nope"]
    precheck = review.context["precheck"]
    assert (precheck["total_contacts"], precheck["invalid_count"]) == (2, 1)
    assert b"Recipients from the file People.XLSX" in review.content


def test_ten_thousand_lines_are_accepted():
    data = "\n".join(f"+2567720{i:05d}" for i in range(10_000)).encode()
    assert len(parse_recipients("many.txt", data)) == 10_000


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("people.pdf", b"%PDF-1.4", "is not a .csv, .txt or .xlsx file"),
        ("people.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "is not a .csv, .txt or .xlsx file"),
        ("people.xlsx", b"PK\x03\x04", "The file is not a valid XLSX workbook."),
        ("old.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "Legacy .xls files are not supported"),
        ("text.xlsx", b"phone\n+256772000001\n", "is not a valid XLSX workbook"),
        ("people.xlsx", xlsx_bytes([["name", "email"], ["Ann", "a@example.com"]]), "The file needs a 'phone' column"),
        ("header.xlsx", xlsx_bytes([["Phone", "Name"], [None, "Ann"]]), "holds no phone numbers"),
        ("blank.xlsx", xlsx_bytes([]), "The file is empty."),
        (
            "many.xlsx",
            xlsx_bytes([["phone"], *([256772000001] for _ in range(10_001))]),
            "holds more than 10,000 recipients; at most 10,000",
        ),
        ("people.csv", b"PK\x03\x04\x00\x00", "is not text"),
        ("people.csv", "phone\n+256772000001 é\n".encode("latin-1"), "not UTF-8"),
        ("people.csv", b"name,email\nAnn,a@example.com\n", "no \u201cphone\u201d column (its columns: name, email)"),
        ("empty.txt", b"\n\n", "holds no phone numbers"),
        ("header.csv", b"phone,name\n", "holds no phone numbers"),
        ("many.txt", b"+256772000001\n" * 10_001, "holds 10,001 recipients; at most 10,000"),
    ],
)
def test_a_bad_file_gets_a_clear_error_and_creates_nothing(login, shop, name, data, message):
    with pytest.raises(RecipientFileError, match=re.escape(message)):
        parse_recipients(name, data)
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/", {**BASE, "step": "send", "recipients_file": upload(name, data)}
    )
    assert response.status_code == 400
    assert message in response.context["error"]
    assert list(response.context["field_errors"]) == ["recipients_file"]
    assert Broadcast.objects.count() == 0


def test_an_oversized_file_is_refused(login, shop):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/", {**BASE, "recipients_file": upload("big.txt", b"+256772000001\n" * 200_000)}
    )
    assert response.status_code == 400
    assert "at most 2,097,152" in response.context["error"]


def test_uploaded_recipients_travel_through_review_to_send(login, shop, daytime):
    web = login(R.MANAGER, shop.client)
    data = b"phone,first_name\n+256772000001,Ann\n+254712000001,Bob\nnope,Cy\n"
    review = web.post(
        "/broadcasts/new/",
        {**BASE, "step": "review", "recipients": "+256772000003", "recipients_file": upload("people.csv", data)},
    )
    assert review.status_code == 200
    assert review.context["body"]["recipients"] == ["+256772000003", "+256772000001", "+254712000001", "nope"]
    precheck = review.context["precheck"]
    assert (precheck["total_contacts"], precheck["invalid_count"]) == (3, 1)
    assert b"Recipients from the file people.csv" in review.content
    hidden = dict(review.context["hidden"])
    assert hidden["uploaded_recipients"].splitlines() == ["+256772000001", "+254712000001", "nope"]
    assert "recipients_file" not in hidden

    sent = web.post("/broadcasts/new/", {**hidden, "step": "send"})  # the review's form, without the file

    assert sent.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.total_recipients == 3
    assert sorted(
        Message.objects.filter(broadcast=broadcast).exclude(status="skipped").values_list("urn", flat=True)
    ) == [
        "tel:+254712000001",
        "tel:+256772000001",
        "tel:+256772000003",
    ]


def test_back_to_edit_keeps_the_file_and_it_can_be_removed(login, shop):
    web = login(R.MANAGER, shop.client)
    kept = web.post("/broadcasts/new/", {**BASE, "step": "edit", "recipients_file": upload("a.txt", b"+256772000001")})
    assert kept.context["uploaded_count"] == 1
    body = kept.content.decode()
    assert 'data-testid="uploaded"' in body
    assert 'name="uploaded_recipients" value="+256772000001"' in body
    dropped = web.post(
        "/broadcasts/new/",
        {**BASE, "step": "drop_upload", "uploaded_recipients": "+256772000001", "uploaded_name": "a.txt"},
    )
    assert dropped.context["uploaded_count"] == 0
    assert "uploaded_recipients" not in dropped.context["form"]


def test_the_form_uploads_files():
    from pathlib import Path

    template = Path(__file__).resolve().parents[2] / "dashboard/templates/dashboard/compose/form.html"
    assert 'enctype="multipart/form-data"' in template.read_text()


@pytest.fixture
def people(shop):
    other = ClientFactory()
    return {
        "ann": ContactFactory(client=shop.client, first_name="Ann", last_name="Okello", phone="+256772000011"),
        "anna": ContactFactory(client=shop.client, first_name="Anna", last_name="Mugisha", phone="+256772000012"),
        "bob": ContactFactory(client=shop.client, first_name="Bob", last_name="Ann", phone="+256772000013"),
        "cy": ContactFactory(client=shop.client, first_name="Cy", last_name="Kato", phone="+256772000014"),
        "stranger": ContactFactory(client=other, first_name="Ann", last_name="Elsewhere", phone="+256772000015"),
    }


def test_the_picker_searches_the_clients_contacts_by_name_or_phone(login, shop, people):
    web = login(R.MANAGER, shop.client)
    response = web.get("/broadcasts/new/contacts/", {"contact_q": "ann"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    found = [c.pk for c in response.context["contact_results"]]
    assert found == [people["ann"].pk, people["anna"].pk, people["bob"].pk]  # never another client's Ann
    body = response.content.decode()
    assert "<html" not in body
    assert f'hx-get="/broadcasts/new/contacts/pick/?id={people["ann"].pk}"' in body
    by_phone = web.get("/broadcasts/new/contacts/", {"contact_q": "0772 000014"}).context["contact_results"]
    assert [c.pk for c in by_phone] == [people["cy"].pk]
    assert "No contact matches" in web.get("/broadcasts/new/contacts/", {"contact_q": "zzz"}).content.decode()


def test_the_search_input_is_debounced_htmx():
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "dashboard/templates/dashboard/compose/form.html").read_text()
    assert (
        'hx-get="{% url \'dashboard:compose_contacts\' %}" hx-trigger="input changed delay:300ms, search"' in template
    )


def test_picking_a_contact_gives_its_ticked_checkbox(login, shop, people):
    web = login(R.MANAGER, shop.client)
    response = web.get("/broadcasts/new/contacts/pick/", {"id": str(people["cy"].pk)})
    assert response.status_code == 200
    assert f'name="contacts" value="{people["cy"].pk}" checked' in response.content.decode()


@pytest.mark.parametrize("which", ["stranger", "garbage"])
def test_picking_another_clients_contact_is_404(login, shop, people, which):
    contact_id = str(people["stranger"].pk) if which == "stranger" else "not-a-uuid"
    response = login(R.MANAGER, shop.client).get("/broadcasts/new/contacts/pick/", {"id": contact_id})
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/broadcasts/new/contacts/?contact_q=ann", "/broadcasts/new/contacts/pick/?id=x"])
def test_the_picker_is_for_managers(login, shop, path):
    assert login(R.VIEWER, shop.client).get(path).status_code == 403


def test_picked_contacts_are_the_bodys_contacts(login, shop, people, daytime):
    web = login(R.MANAGER, shop.client)
    form = {**BASE, "contacts": [str(people["ann"].pk), str(people["cy"].pk), str(people["ann"].pk)]}
    review = web.post("/broadcasts/new/", {**form, "step": "review"})
    assert review.status_code == 200
    assert review.context["body"]["contacts"] == [str(people["ann"].pk), str(people["cy"].pk)]
    assert review.context["precheck"]["total_contacts"] == 2
    assert web.post("/broadcasts/new/", {**form, "step": "send"}).status_code == 302
    broadcast = Broadcast.objects.get()
    assert set(Message.objects.filter(broadcast=broadcast).values_list("contact_id", flat=True)) == {
        people["ann"].pk,
        people["cy"].pk,
    }


def test_another_clients_contact_id_is_the_services_error(login, shop, people):
    response = login(R.MANAGER, shop.client).post(
        "/broadcasts/new/", {**BASE, "step": "review", "contacts": [str(people["stranger"].pk)]}
    )
    assert response.status_code == 400
    assert "contacts" in response.context["field_errors"]
    assert response.context["chosen_contacts"] == []  # never shown by name on this client's page


def test_the_picker_works_without_javascript(login, shop, people):
    web = login(R.MANAGER, shop.client)
    searched = web.post("/broadcasts/new/", {**BASE, "step": "edit", "contact_q": "Anna"})
    assert [c.pk for c in searched.context["contact_results"]] == [people["anna"].pk]
    added = web.post(
        "/broadcasts/new/",
        {**BASE, "contacts": [str(people["ann"].pk)], "add_contact": str(people["anna"].pk), "contact_q": "Anna"},
    )
    assert added.status_code == 200
    assert [c.pk for c in added.context["chosen_contacts"]] == [people["ann"].pk, people["anna"].pk]
    assert Broadcast.objects.count() == 0
