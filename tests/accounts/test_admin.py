"""Support staff's admin: search, filters, suspend/reactivate, revoke, key secret shown once."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from accounts.models import ApiKey, Client, User
from accounts.selectors import api_key_lookup
from tests.factories.accounts import ClientFactory, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/client/?q=Acme&status__exact=active",
        "/admin/accounts/membership/?role__exact=owner",
        "/admin/accounts/apikey/?q=crm&status=active",
        "/admin/accounts/apikey/?status=revoked",
        "/admin/accounts/apikey/?status=expired",
        "/admin/accounts/apikey/add/",
        "/admin/accounts/user/",
    ],
)
def test_admin_pages_load(staff, url):
    ClientFactory(name="Acme")
    assert staff.get(url).status_code == 200


def test_suspend_and_reactivate_actions(staff):
    acme = ClientFactory(name="Acme")
    staff.post("/admin/accounts/client/", {"action": "suspend_clients", "_selected_action": [acme.pk]})
    acme.refresh_from_db()
    assert acme.status == Client.Status.SUSPENDED
    assert acme.suspended_at is not None
    staff.post("/admin/accounts/client/", {"action": "reactivate_clients", "_selected_action": [acme.pk]})
    acme.refresh_from_db()
    assert acme.status == Client.Status.ACTIVE


def test_revoke_action(staff):
    api_key, _ = make_api_key()
    staff.post("/admin/accounts/apikey/", {"action": "revoke_keys", "_selected_action": [api_key.pk]})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_adding_a_key_shows_the_secret_once_and_never_again(staff):
    acme = ClientFactory(name="Acme")
    response = staff.post(
        "/admin/accounts/apikey/add/",
        {"client": acme.pk, "name": "Support key", "scope_choices": ["read"], "allowed_ips_text": "10.0.0.0/8"},
        follow=True,
    )
    assert response.status_code == 200
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    raw = re.search(r"hk_\w+", shown).group(0)
    api_key = api_key_lookup(raw=raw)
    assert api_key is not None
    assert (api_key.name, api_key.scopes, api_key.allowed_ips) == ("Support key", ["read"], ["10.0.0.0/8"])
    change_page = staff.get(f"/admin/accounts/apikey/{api_key.pk}/change/").content.decode()
    assert raw not in change_page
    assert raw.split("_")[2] not in change_page
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize("field", ["send_rate_limit", "api_rate_limit", "compat_send_rate_limit"])
def test_a_malformed_rate_limit_is_refused_when_saved(staff, field):
    acme = ClientFactory(name="Acme", country="UG")
    form = {
        "name": "Acme",
        "country": "UG",
        "timezone": "UTC",
        "send_rate_limit": "",
        "api_rate_limit": "",
        "compat_send_rate_limit": "",
        "language": "eng",
        field: "lots",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = staff.post(f"/admin/accounts/client/{acme.pk}/change/", form)
    assert response.status_code == 200  # the form again, with the error
    assert "&#x27;lots&#x27; is not a rate; write N/period, e.g. 10/15m" in response.content.decode()
    acme.refresh_from_db()
    assert getattr(acme, field) == ""
    form[field] = "120/15m"
    assert staff.post(f"/admin/accounts/client/{acme.pk}/change/", form).status_code == 302
    acme.refresh_from_db()
    assert getattr(acme, field) == "120/15m"


def test_a_client_language_that_is_not_iso_639_3_is_refused_when_saved(staff):
    acme = ClientFactory(name="Acme", country="UG")
    form = {
        "name": "Acme",
        "country": "UG",
        "timezone": "UTC",
        "language": "qqq",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = staff.post(f"/admin/accounts/client/{acme.pk}/change/", form)
    assert response.status_code == 200
    assert "is not an ISO 639-3 language code" in response.content.decode()
    form["language"] = "swa"
    assert staff.post(f"/admin/accounts/client/{acme.pk}/change/", form).status_code == 302
    acme.refresh_from_db()
    assert acme.language == "swa"
