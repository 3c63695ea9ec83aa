"""The contacts page's opt-outs: a manager opts a contact out or back in through the API's service
(recorded as from the dashboard), the search kept; a viewer cannot."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Membership
from contacts.models import Contact
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import ContactFactory

pytestmark = pytest.mark.django_db

R = Membership.Role


@pytest.fixture
def ann(shop) -> Contact:
    return ContactFactory(client=shop.client, first_name="Ann", last_name="Okello", phone="+256772000011")


def test_a_manager_opts_a_contact_out_and_back_in(login, shop, ann):
    web = login(R.MANAGER, shop.client)
    page = web.get("/contacts/", {"q": "Ann"}).content.decode()
    assert f'class="button danger row" href="/contacts/{ann.pk}/opt-out/?back=q%3DAnn"' in page
    assert 'aria-label="Opt Ann Okello out"' in page
    asked = web.get(f"/contacts/{ann.pk}/opt-out/", {"back": "q=Ann"})  # asks first, changes nothing
    assert asked.status_code == 200
    assert '<input type="hidden" name="back" value="q=Ann">' in asked.content.decode()
    ann.refresh_from_db()
    assert ann.opted_out is False

    response = web.post(f"/contacts/{ann.pk}/opt-out/", {"back": "q=Ann"})

    assert response.status_code == 302
    assert response["Location"] == "/contacts/?q=Ann"
    ann.refresh_from_db()
    assert (ann.opted_out, ann.opted_out_source) == (True, "dashboard")
    page = web.get("/contacts/", {"q": "Ann"}).content.decode()
    assert 'yes <span class="muted">(Dashboard, ' in page
    assert f'action="/contacts/{ann.pk}/opt-in/"' in page

    web.post(f"/contacts/{ann.pk}/opt-in/")
    ann.refresh_from_db()
    assert (ann.opted_out, ann.opted_out_source, ann.opted_out_at) == (False, "", None)


def test_the_api_sees_the_dashboards_opt_out(login, shop, ann):
    login(R.MANAGER, shop.client).post(f"/contacts/{ann.pk}/opt-out/")
    assert shop.api.get(f"/api/v1/contacts/{ann.pk}/").json()["opted_out"] is True


def test_a_viewer_cannot_opt_out_and_sees_no_button(login, shop, ann):
    web = login(R.VIEWER, shop.client)
    assert "/opt-out/" not in web.get("/contacts/").content.decode()
    assert web.post(f"/contacts/{ann.pk}/opt-out/").status_code == 403
    ann.refresh_from_db()
    assert ann.opted_out is False


def test_another_clients_contact_is_a_404(login, shop):
    theirs = ContactFactory(client=ClientFactory(), phone="+256772000012")
    assert login(R.OWNER, shop.client).post(f"/contacts/{theirs.pk}/opt-out/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.opted_out is False


def test_an_opt_out_happens_only_on_the_confirming_post(login, shop, ann):
    web = login(R.MANAGER, shop.client)
    assert "will receive no marketing broadcasts" in web.get(f"/contacts/{ann.pk}/opt-out/").content.decode()
    ann.refresh_from_db()
    assert ann.opted_out is False
    assert login(R.VIEWER, shop.client).get(f"/contacts/{ann.pk}/opt-out/").status_code == 403


def test_the_back_link_keeps_only_the_search(login, shop, ann):
    response = login(R.MANAGER, shop.client).post(
        f"/contacts/{ann.pk}/opt-out/", {"back": "q=Ann&opted_out=1&offset=50&next=//evil.example"}
    )
    assert response["Location"] == "/contacts/?q=Ann&opted_out=1&offset=50"


def test_the_pager_keeps_the_opted_out_filter(login, shop):
    ContactFactory.create_batch(51, client=shop.client, opted_out=True, opted_out_at=timezone.now())
    page = login(R.VIEWER, shop.client).get("/contacts/", {"opted_out": "1"}).content.decode()
    assert 'href="?opted_out=1&amp;offset=50">Next</a>' in page
