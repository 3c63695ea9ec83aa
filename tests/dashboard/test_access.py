"""Roles are enforced on the server; another client's objects are 404; failed logins lock out."""

from __future__ import annotations

import re

import pytest
from django.test import Client as WebClient

from accounts.models import Membership
from broadcasts.models import Broadcast
from tests.factories.accounts import ClientFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

R = Membership.Role
READ_PAGES = [
    "/",
    "/broadcasts/",
    "/messages/",
    "/contacts/",
    "/contacts/lists/",
    "/contacts/imports/",
    "/templates/",
    "/wallet/",
    "/replies/",
    "/tracking/",
    "/settings/",
]


@pytest.mark.parametrize("path", READ_PAGES)
def test_every_page_reads_for_a_viewer(login, shop, path):
    web = login(R.VIEWER, shop.client)
    response = web.get(path)
    assert response.status_code == 200
    assert b"htmx" in response.content  # the package's own copy, never a CDN
    assert b"unpkg.com" not in response.content
    # No asset from another host (a random short code may well spell "cdn").
    assert re.search(rb'(?:src|href)="(?:https?:)?//', response.content) is None


@pytest.mark.parametrize("path", [*READ_PAGES, "/broadcasts/new/", "/api-management/"])
def test_anonymous_visitors_go_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/broadcasts/new/", {"step": "send", "name": "x", "text": "hi", "recipients": "+256772000001"}),
        ("/broadcasts/new/counter/", {"text": "hi"}),
        ("/contacts/lists/", {"name": "VIP"}),
        ("/templates/", {"name": "t", "content": "hi"}),
        ("/api-management/", {"kind": "key", "name": "k", "scopes": "read"}),
        ("/settings/", {"kind": "invite", "email": "a@example.com", "role": "owner"}),
    ],
)
def test_a_viewer_gets_403_on_every_write(login, shop, path, data):
    web = login(R.VIEWER, shop.client)
    response = web.post(path, data)
    assert response.status_code == 403
    assert b"You can't do that" in response.content


def test_a_viewer_cannot_cancel_but_a_manager_can(login, shop, daytime):
    broadcast = shop.broadcast(
        shop.create(recipients=["+256772000001"], schedule_mode="scheduled", scheduled_at="2026-11-25T15:00:00Z")
    )
    path = f"/broadcasts/{broadcast.pk}/cancel/"
    viewer = login(R.VIEWER, shop.client)
    assert viewer.get(path).status_code == 200  # the confirmation page reads
    assert viewer.post(path).status_code == 403
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SCHEDULED
    manager = login(R.MANAGER, shop.client)
    confirm = manager.get(path)
    assert b"cannot be undone" in confirm.content
    assert b'method="post"' in confirm.content
    response = manager.post(path)
    assert response.status_code == 302
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.CANCELLED


@pytest.mark.parametrize(("role", "status"), [(R.MANAGER, 403), (R.ADMIN, 200), (R.OWNER, 200)])
def test_api_management_is_for_admins_and_owners(login, shop, role, status):
    assert login(role, shop.client).get("/api-management/").status_code == status


@pytest.mark.parametrize(("role", "status"), [(R.ADMIN, 403), (R.OWNER, 200)])
def test_only_owners_invite(login, shop, role, status):
    response = login(role, shop.client).post(
        "/settings/", {"kind": "invite", "email": "new@example.com", "role": "viewer"}
    )
    assert response.status_code == status


def test_another_clients_objects_answer_404(login, shop, make_shop, daytime):
    theirs = make_shop()
    broadcast = theirs.broadcast(theirs.create(recipients=["+256772000001"]))
    web = login(R.OWNER, shop.client)
    for path in [
        f"/broadcasts/{broadcast.pk}/",
        f"/broadcasts/{broadcast.pk}/progress/",
        f"/broadcasts/{broadcast.pk}/cancel/",
        f"/broadcasts/{broadcast.pk}/test/",
    ]:
        assert web.get(path).status_code == 404, path
    assert web.post(f"/broadcasts/{broadcast.pk}/cancel/").status_code == 404
    assert b"Page not found" in web.get(f"/broadcasts/{broadcast.pk}/").content


def test_a_user_without_membership_gets_a_clear_403(client):
    user = UserFactory()
    client.force_login(user)
    response = client.get("/broadcasts/")
    assert response.status_code == 403
    assert b"not a member" in response.content


def test_repeated_failed_logins_lock_out(settings):
    user = UserFactory()
    user.set_password("right-password-123")
    user.save()
    MembershipFactory(user=user, client=ClientFactory())
    web = WebClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = web.post("/login/", {"username": user.username, "password": "wrong"})
        assert response.status_code in (200, 429)
    locked = web.post("/login/", {"username": user.username, "password": "right-password-123"})
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in web.session


def test_a_good_login_works_and_resets_the_count():
    user = UserFactory()
    user.set_password("right-password-123")
    user.save()
    MembershipFactory(user=user, client=ClientFactory())
    web = WebClient()
    web.post("/login/", {"username": user.username, "password": "wrong"})
    response = web.post("/login/", {"username": user.username, "password": "right-password-123"})
    assert response.status_code == 302
    assert web.get("/").status_code == 200
