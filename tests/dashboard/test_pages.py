"""Contacts imports, templates, API keys (the secret once), invitations, wallet and replies."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as WebClient

from accounts.models import ApiKey, Membership, User
from contacts.models import Contact, ContactImport
from templates_app.models import Template

pytestmark = pytest.mark.django_db

R = Membership.Role


def test_import_runs_to_100_percent_with_row_errors(login, shop, django_capture_on_commit_callbacks):
    web = login(R.MANAGER, shop.client)
    upload = SimpleUploadedFile("people.csv", b"phone,first_name\n+256772000001,Ann\nnope,Bob\n+256772000002,Cy\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post("/contacts/imports/", {"file": upload, "list_name": "VIP"})
    job = ContactImport.objects.get()
    assert response["Location"] == f"/contacts/imports/{job.pk}/"
    fragment = web.get(f"/contacts/imports/{job.pk}/progress/").content.decode()
    assert "Completed" in fragment
    assert 'value="100' in fragment
    assert "hx-trigger" not in fragment
    assert "nope" in fragment  # the row error
    assert Contact.objects.filter(client=shop.client).count() == 2
    assert web.get("/contacts/", {"q": "Ann"}).context["contacts"][0].first_name == "Ann"


def test_a_pending_import_is_polled(login, shop):
    web = login(R.MANAGER, shop.client)
    web.post("/contacts/imports/", {"file": SimpleUploadedFile("p.csv", b"phone\n+256772000001\n")})
    job = ContactImport.objects.get()
    assert 'hx-trigger="every 2s"' in web.get(f"/contacts/imports/{job.pk}/").content.decode()


def test_templates_create_and_submit(login, shop):
    web = login(R.MANAGER, shop.client)
    web.post("/templates/", {"name": "promo", "channel": "whatsapp", "language": "eng", "content": "Hi {{1}}"})
    template = Template.objects.get(client=shop.client)
    assert template.status == "draft"
    web.post(f"/templates/{template.pk}/submit/")
    template.refresh_from_db()
    assert template.status == "pending"


def test_the_api_key_secret_is_shown_exactly_once(login, shop):
    web = login(R.ADMIN, shop.client)
    response = web.post(
        "/api-management/", {"kind": "key", "name": "CRM", "scopes": ["read", "send_sms"], "allowed_ips": "10.0.0.0/8"}
    )
    secret = re.search(r'data-testid="new-secret">([^<]+)<', response.content.decode()).group(1)
    key = ApiKey.objects.get(client=shop.client, name="CRM")
    assert secret.startswith(f"hk_{key.prefix}_")
    assert key.scopes == ["read", "send_sms"]
    assert key.allowed_ips == ["10.0.0.0/8"]
    assert "no-store" in response["Cache-Control"]
    assert secret not in web.get("/api-management/").content.decode()
    asked = web.get(f"/api-management/keys/{key.pk}/revoke/")  # a destructive action asks first
    assert asked.status_code == 200
    assert "cannot be undone" in asked.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    assert (
        f'class="button danger" href="/api-management/keys/{key.pk}/revoke/"'
        in web.get("/api-management/").content.decode()
    )
    web.post(f"/api-management/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert login(R.MANAGER, shop.client).get(f"/api-management/keys/{key.pk}/revoke/").status_code == 403


def test_webhook_endpoint_secret_once_and_deliveries_page(login, shop, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    web = login(R.ADMIN, shop.client)
    response = web.post("/api-management/", {"kind": "webhook", "url": "https://example.com/hook"})
    assert b'data-testid="new-webhook-secret">whsec_' in response.content
    endpoint = response.context["new_endpoint"]
    assert web.get(f"/api-management/webhooks/{endpoint.pk}/").status_code == 200


def test_invite_gives_a_set_password_link_that_works_once(login, shop):
    owner = login(R.OWNER, shop.client)
    response = owner.post("/settings/", {"kind": "invite", "email": "Ann@Example.com", "role": "manager"})
    link = re.search(r'data-testid="invite-link">([^<]+)<', response.content.decode()).group(1)
    user = User.objects.get(email="ann@example.com")
    assert Membership.objects.get(user=user, client=shop.client).role == "manager"
    assert not user.has_usable_password()
    guest = WebClient()
    form = guest.get(link, follow=True)
    assert form.status_code == 200
    done = guest.post(
        form.redirect_chain[-1][0], {"new_password1": "a-long-pass-4321", "new_password2": "a-long-pass-4321"}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-long-pass-4321")
    assert b"has been used" in guest.get(link, follow=True).content


def test_owner_changes_a_role_but_not_their_own_down(login, shop):
    owner = login(R.OWNER, shop.client)
    viewer = Membership.objects.create(user=User.objects.create(username="v"), client=shop.client, role=R.VIEWER)
    owner.post("/settings/", {"kind": "role", "membership": viewer.pk, "role": "admin"})
    viewer.refresh_from_db()
    assert viewer.role == "admin"
    mine = Membership.objects.get(user=owner.user, client=shop.client)
    owner.post("/settings/", {"kind": "role", "membership": mine.pk, "role": "viewer"})
    mine.refresh_from_db()
    assert mine.role == "owner"


def test_wallet_shows_balance_reserved_available_and_prices(login, shop):
    response = login(R.VIEWER, shop.client).get("/wallet/")
    wallet = response.context["wallet"]
    api = shop.api.get("/api/v1/wallet/").json()
    assert str(wallet.available) == api["available"] or float(wallet.available) == float(api["available"])
    assert len(response.context["prices"]) > 0
