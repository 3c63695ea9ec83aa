"""Contacts and lists written from the dashboard (issue 21 point 5): add, edit and delete a contact;
open a list, remove members, rename it, delete it. Every write goes through the API's services; a
destructive button asks first (its GET is a question and deletes nothing); viewers only read."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection

from accounts.models import Membership
from contacts import services
from contacts.models import Contact, ContactList
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory

pytestmark = pytest.mark.django_db

R = Membership.Role


@pytest.fixture
def ann(shop: Any) -> Contact:
    return services.contact_create(
        client=shop.client,
        phone="+256772000021",
        first_name="Ann",
        last_name="Okello",
        language="eng",
        fields={"city": "Kampala"},
    )


@pytest.fixture
def vip(shop: Any, ann: Contact) -> ContactList:
    contact_list = services.contact_list_create(client=shop.client, name="VIP")
    bob = ContactFactory(client=shop.client, first_name="Bob", phone="+256772000022")
    services.contact_list_add_contacts(contact_list=contact_list, contact_ids=[ann.pk, bob.pk])
    return contact_list


# --- contacts ---------------------------------------------------------------------------------------


def test_a_manager_adds_a_contact_from_the_contacts_page(login, shop):
    web = login(R.MANAGER, shop.client)
    assert 'name="first_name"' in web.get("/contacts/").content.decode()

    response = web.post("/contacts/", {"phone": "+256772000031", "first_name": "Cy", "last_name": "Nabirye"})

    contact = Contact.objects.get(client=shop.client, phone="+256772000031")
    assert response.status_code == 302
    assert response["Location"] == f"/contacts/{contact.pk}/"
    assert (contact.first_name, contact.last_name) == ("Cy", "Nabirye")
    page = web.get("/contacts/").content.decode()
    assert f'<a href="/contacts/{contact.pk}/">Cy Nabirye</a>' in page


def test_adding_a_duplicate_or_bad_phone_is_an_error_in_words(login, shop, ann):
    web = login(R.MANAGER, shop.client)
    page = web.post("/contacts/", {"phone": ann.phone, "first_name": "Twin"}, follow=True).content.decode()
    assert "already has this phone" in page
    page = web.post("/contacts/", {"phone": "12", "first_name": "Nobody"}, follow=True).content.decode()
    assert 'class="error"' in page
    assert Contact.objects.filter(client=shop.client).count() == 1


def test_the_contact_page_shows_its_fields_and_lists(login, shop, ann, vip):
    page = login(R.VIEWER, shop.client).get(f"/contacts/{ann.pk}/").content.decode()
    for text in ("+256772000021", "Ann", "Okello", "eng", "city", "Kampala", ">VIP</a>"):
        assert text in page
    assert f'href="/contacts/lists/{vip.pk}/"' in page
    assert 'data-testid="opted-out">no' in page
    # A viewer sees no form and no delete button.
    assert 'name="phone"' not in page
    assert "/delete/" not in page


def test_a_manager_edits_a_contact(login, shop, ann):
    web = login(R.MANAGER, shop.client)
    page = web.get(f"/contacts/{ann.pk}/").content.decode()
    assert "city=Kampala</textarea>" in page

    response = web.post(
        f"/contacts/{ann.pk}/",
        {
            "phone": "+256772000099",
            "first_name": "Anne",
            "last_name": "Okello",
            "language": "fra",
            "fields": "tier = gold\n\nzone=north",
        },
    )

    assert response.status_code == 302
    ann.refresh_from_db()
    assert (ann.phone, ann.first_name, ann.language) == ("+256772000099", "Anne", "fra")
    assert ann.fields == {"tier": "gold", "zone": "north"}  # the form's lines are the fields now
    assert shop.api.get(f"/api/v1/contacts/{ann.pk}/").json()["first_name"] == "Anne"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"phone": "12"}, "phone"),
        ({"language": "klingon-ish"}, "language"),
        ({"fields": "no equals sign"}, "not key=value"),
        ({"fields": "Bad Key=1"}, "not a valid field key"),
    ],
)
def test_a_refused_edit_is_an_error_on_the_page_and_changes_nothing(login, shop, ann, change, words):
    web = login(R.MANAGER, shop.client)
    form = {"phone": ann.phone, "first_name": "Changed", "last_name": "", "language": "", "fields": "", **change}

    response = web.post(f"/contacts/{ann.pk}/", form)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="error"' in page
    assert words.lower() in page.lower()
    assert 'value="Changed"' in page  # the form as typed
    ann.refresh_from_db()
    assert (ann.phone, ann.first_name, ann.language, ann.fields) == (
        "+256772000021",
        "Ann",
        "eng",
        {"city": "Kampala"},
    )


def test_another_contacts_phone_is_refused(login, shop, ann):
    other = ContactFactory(client=shop.client, phone="+256772000023")
    response = login(R.MANAGER, shop.client).post(
        f"/contacts/{other.pk}/", {"phone": ann.phone, "first_name": "X", "fields": ""}
    )
    assert "already has this phone" in response.content.decode()
    other.refresh_from_db()
    assert other.phone == "+256772000023"


def test_deleting_a_contact_asks_first(login, shop, ann, vip):
    web = login(R.MANAGER, shop.client)
    assert (
        f'class="button danger" href="/contacts/{ann.pk}/delete/"' in web.get(f"/contacts/{ann.pk}/").content.decode()
    )

    question = web.get(f"/contacts/{ann.pk}/delete/")
    assert question.status_code == 200
    assert "cannot be undone" in question.content.decode()
    assert Contact.objects.filter(pk=ann.pk).exists()

    response = web.post(f"/contacts/{ann.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/contacts/"
    assert not Contact.objects.filter(pk=ann.pk).exists()
    vip.refresh_from_db()
    assert vip.contact_count == 1  # the service kept the list's count right
    assert web.get(f"/contacts/{ann.pk}/").status_code == 404


def test_a_viewer_cannot_write_contacts(login, shop, ann):
    web = login(R.VIEWER, shop.client)
    assert "Add contact" not in web.get("/contacts/").content.decode()
    assert web.post("/contacts/", {"phone": "+256772000032"}).status_code == 403
    assert web.post(f"/contacts/{ann.pk}/", {"phone": ann.phone, "first_name": "Hacked"}).status_code == 403
    assert web.get(f"/contacts/{ann.pk}/delete/").status_code == 403
    assert web.post(f"/contacts/{ann.pk}/delete/").status_code == 403
    ann.refresh_from_db()
    assert ann.first_name == "Ann"
    assert Contact.objects.filter(client=shop.client).count() == 1


def test_another_clients_contact_is_a_404(login, shop):
    theirs = ContactFactory(client=ClientFactory(), phone="+256772000024")
    web = login(R.OWNER, shop.client)
    assert web.get(f"/contacts/{theirs.pk}/").status_code == 404
    assert web.post(f"/contacts/{theirs.pk}/", {"phone": theirs.phone, "first_name": "Mine"}).status_code == 404
    assert web.post(f"/contacts/{theirs.pk}/delete/").status_code == 404
    assert Contact.objects.filter(pk=theirs.pk, first_name=theirs.first_name).exists()


# --- lists ------------------------------------------------------------------------------------------


def test_the_lists_page_links_each_list(login, shop, vip):
    page = login(R.VIEWER, shop.client).get("/contacts/lists/").content.decode()
    assert f'<a href="/contacts/lists/{vip.pk}/">VIP</a>' in page


def test_a_list_page_shows_its_members_newest_first(login, shop, ann, vip):
    carl = ContactFactory(client=shop.client, first_name="Carl", last_name="Late", phone="+256772000025")
    services.contact_list_add_contacts(contact_list=vip, contact_ids=[carl.pk])
    page = login(R.VIEWER, shop.client).get(f"/contacts/lists/{vip.pk}/").content.decode()
    assert f'href="/contacts/{ann.pk}/">Ann Okello</a>' in page
    assert page.index("Carl Late") < page.index("Ann Okello")  # the newest member first
    assert "3 contacts" in page
    # A viewer reads: no remove, rename or delete.
    assert "/remove/" not in page
    assert "/delete/" not in page
    assert 'name="name"' not in page


def test_a_list_page_is_paged_by_50(login, shop):
    contact_list = services.contact_list_create(client=shop.client, name="Big")
    people = ContactFactory.create_batch(51, client=shop.client)
    services.contact_list_add_contacts(contact_list=contact_list, contact_ids=[c.pk for c in people])
    web = login(R.VIEWER, shop.client)
    first = web.get(f"/contacts/lists/{contact_list.pk}/").content.decode()
    assert len(re.findall(r'<a href="/contacts/[0-9a-f-]{36}/">', first)) == 50
    assert 'href="?offset=50">Next</a>' in first
    second = web.get(f"/contacts/lists/{contact_list.pk}/", {"offset": 50}).content.decode()
    assert 'href="?offset=0">Previous</a>' in second


def test_removing_a_member_asks_first_and_keeps_the_contact(login, shop, ann, vip):
    web = login(R.MANAGER, shop.client)
    page = web.get(f"/contacts/lists/{vip.pk}/").content.decode()
    assert f'class="button danger row" href="/contacts/lists/{vip.pk}/remove/{ann.pk}/"' in page

    assert "The contact stays" in web.get(f"/contacts/lists/{vip.pk}/remove/{ann.pk}/").content.decode()
    assert vip.contacts.filter(pk=ann.pk).exists()

    response = web.post(f"/contacts/lists/{vip.pk}/remove/{ann.pk}/")

    assert response.status_code == 302
    assert response["Location"] == f"/contacts/lists/{vip.pk}/"
    vip.refresh_from_db()
    assert not vip.contacts.filter(pk=ann.pk).exists()
    assert vip.contact_count == 1
    assert Contact.objects.filter(pk=ann.pk).exists()
    assert f'href="/contacts/{ann.pk}/"' not in web.get(f"/contacts/lists/{vip.pk}/").content.decode()


def test_renaming_a_list(login, shop, vip):
    web = login(R.MANAGER, shop.client)
    response = web.post(f"/contacts/lists/{vip.pk}/", {"name": "  Gold  "})
    assert response.status_code == 302
    vip.refresh_from_db()
    assert vip.name == "Gold"

    services.contact_list_create(client=shop.client, name="Silver")
    page = web.post(f"/contacts/lists/{vip.pk}/", {"name": "Silver"}, follow=True).content.decode()
    assert 'class="error"' in page
    page = web.post(f"/contacts/lists/{vip.pk}/", {"name": "   "}, follow=True).content.decode()
    assert 'class="error"' in page
    vip.refresh_from_db()
    assert vip.name == "Gold"


def test_deleting_a_list_asks_first_and_keeps_its_contacts(login, shop, ann, vip):
    web = login(R.MANAGER, shop.client)
    assert f'href="/contacts/lists/{vip.pk}/delete/"' in web.get(f"/contacts/lists/{vip.pk}/").content.decode()
    assert "contacts stay" in web.get(f"/contacts/lists/{vip.pk}/delete/").content.decode()
    assert ContactList.objects.filter(pk=vip.pk).exists()

    response = web.post(f"/contacts/lists/{vip.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/contacts/lists/"
    assert not ContactList.objects.filter(pk=vip.pk).exists()
    assert Contact.objects.filter(client=shop.client).count() == 2


def test_a_viewer_cannot_change_a_list(login, shop, ann, vip):
    web = login(R.VIEWER, shop.client)
    assert web.post(f"/contacts/lists/{vip.pk}/", {"name": "Mine"}).status_code == 403
    assert web.get(f"/contacts/lists/{vip.pk}/delete/").status_code == 403
    assert web.post(f"/contacts/lists/{vip.pk}/delete/").status_code == 403
    assert web.post(f"/contacts/lists/{vip.pk}/remove/{ann.pk}/").status_code == 403
    vip.refresh_from_db()
    assert (vip.name, vip.contact_count) == ("VIP", 2)


def test_another_clients_list_is_a_404(login, shop, ann):
    theirs = services.contact_list_create(client=ClientFactory(), name="Theirs")
    web = login(R.OWNER, shop.client)
    assert web.get(f"/contacts/lists/{theirs.pk}/").status_code == 404
    assert web.post(f"/contacts/lists/{theirs.pk}/", {"name": "Mine"}).status_code == 404
    assert web.post(f"/contacts/lists/{theirs.pk}/delete/").status_code == 404
    assert web.post(f"/contacts/lists/{theirs.pk}/remove/{ann.pk}/").status_code == 404
    assert ContactList.objects.filter(pk=theirs.pk, name="Theirs").exists()


# --- query counts -----------------------------------------------------------------------------------


def _queries(web: Any, path: str) -> int:
    count = 0

    def record(execute: Any, *args: Any) -> Any:
        nonlocal count
        count += 1
        return execute(*args)

    with connection.execute_wrapper(record):
        assert web.get(path).status_code == 200
    return count


def test_the_new_pages_cost_the_same_queries_however_many_contacts(login, shop, ann, vip):
    web = login(R.OWNER, shop.client)
    paths = [f"/contacts/{ann.pk}/", f"/contacts/lists/{vip.pk}/", f"/contacts/{ann.pk}/delete/"]
    small = [_queries(web, p) for p in paths]
    more = ContactFactory.create_batch(30, client=shop.client)
    services.contact_list_add_contacts(contact_list=vip, contact_ids=[c.pk for c in more])
    for i in range(5):
        services.contact_list_add_contacts(
            contact_list=services.contact_list_create(client=shop.client, name=f"L{i}"), contact_ids=[ann.pk]
        )
    assert [_queries(web, p) for p in paths] == small
    assert max(small) <= 6, small
