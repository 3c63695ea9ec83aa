"""/api/v1/api-keys/ for logged-in owners and admins: secret shown once, revoke, pagination."""

from __future__ import annotations

import pytest

from accounts.models import ApiKey
from accounts.selectors import api_key_lookup
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_owner_creates_a_key_and_sees_the_secret_once(make_session_api):
    api = make_session_api(role="owner")
    response = api.post(
        "/api/v1/api-keys/",
        {"name": "CRM", "scopes": ["send_sms", "read"], "allowed_ips": ["203.0.113.0/24", "198.51.100.7"]},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    raw = body["key"]
    assert raw.startswith(f"hk_{body['prefix']}_")
    assert body["scopes"] == ["send_sms", "read"]
    assert body["allowed_ips"] == ["203.0.113.0/24", "198.51.100.7/32"]
    assert body["status"] == "active"
    assert api_key_lookup(raw=raw).pk == ApiKey.objects.get(pk=body["id"]).pk
    listed = api.get("/api/v1/api-keys/").json()["results"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0]
    assert raw not in api.get(f"/api/v1/api-keys/{body['id']}/").content.decode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "scopes": ["send_email"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["read"], "allowed_ips": ["10.0.0.0/33"]}, "allowed_ips"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"scopes": ["read"]}, "name"),
    ],
)
def test_bad_key_requests_get_400_and_create_nothing(make_session_api, payload, field):
    api = make_session_api()
    error = assert_error(api.post("/api/v1/api-keys/", payload, format="json"), 400, "invalid_request_error")
    assert field in error["fields"]
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize("role", ["manager", "viewer"])
def test_managers_and_viewers_cannot_manage_keys(make_session_api, role):
    api = make_session_api(role=role)
    assert_error(api.get("/api/v1/api-keys/"), 403, "permission_error", "role_not_allowed")
    assert_error(
        api.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json"), 403, "permission_error"
    )


def test_api_keys_cannot_manage_keys(api):
    assert_error(api.get("/api/v1/api-keys/"), 403, "permission_error", "session_required")


def test_revoke_then_the_key_stops_working(make_session_api):
    owner = make_session_api(role="admin")
    created = owner.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json").json()
    response = owner.post(f"/api/v1/api-keys/{created['id']}/revoke/")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    from rest_framework.test import APIClient

    integrator = APIClient()
    integrator.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    assert_error(integrator.get("/api/v1/me/"), 401, "authentication_error", "api_key_revoked")
    assert_error(owner.post(f"/api/v1/api-keys/{created['id']}/revoke/"), 409, "conflict", "already_revoked")


def test_delete_revokes(make_session_api):
    owner = make_session_api()
    created = owner.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json").json()
    assert owner.delete(f"/api/v1/api-keys/{created['id']}/").status_code == 204
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is not None


def test_list_is_newest_first_with_cursor_pages(make_session_api):
    owner = make_session_api()
    ids = [
        owner.post("/api/v1/api-keys/", {"name": f"k{i}", "scopes": ["read"]}, format="json").json()["id"]
        for i in range(5)
    ]
    page = owner.get("/api/v1/api-keys/?limit=2").json()
    assert set(page) == {"next", "previous", "results"}
    assert [k["id"] for k in page["results"]] == ids[::-1][:2]
    assert page["previous"] is None
    seen = [k["id"] for k in page["results"]]
    while page["next"]:
        page = owner.get(page["next"]).json()
        seen += [k["id"] for k in page["results"]]
    assert seen == ids[::-1]


def test_me_with_a_session_names_user_and_role(make_session_api):
    api = make_session_api(role="viewer")
    body = api.get("/api/v1/me/").json()
    assert body["role"] == "viewer"
    assert body["scopes"] == ["read"]
    assert body["key_name"] is None


def test_session_post_without_csrf_token_is_403(make_session_api):
    from rest_framework.test import APIClient

    from tests.factories.accounts import MembershipFactory

    membership = MembershipFactory()
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(membership.user)
    assert_error(
        api.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]}, format="json"), 403, "permission_error"
    )
