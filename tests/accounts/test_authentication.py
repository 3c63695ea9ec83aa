"""Bearer keys: scopes, revocation, expiry, IP allowlists, suspended clients, tenant isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_revoke, client_suspend
from tests.factories.accounts import ClientFactory, make_api_key
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


def bearer(raw: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def test_me_names_the_client_key_and_scopes(make_api):
    api = make_api(scopes=["send_sms", "read"], name="Integration")
    response = api.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["client"]["id"] == str(api.tenant.id)
    assert body["client"]["name"] == api.tenant.name
    assert body["key_name"] == "Integration"
    assert body["key_prefix"] == api.api_key.prefix
    assert body["scopes"] == ["read", "send_sms"]


def test_no_credentials_is_401_with_www_authenticate():
    response = APIClient().get("/api/v1/me/")
    assert_error(response, 401, "authentication_error", "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "raw",
    ["hk_AAAAAAAAAA_" + "a" * 40, "not-a-key", "hk_x_y", "Bearer"],
)
def test_wrong_keys_get_401(raw):
    assert_error(bearer(raw).get("/api/v1/me/"), 401, "authentication_error")


def test_a_real_prefix_with_a_wrong_secret_gets_401(make_api):
    api = make_api()
    forged = f"hk_{api.api_key.prefix}_{'Z' * 40}"
    assert_error(bearer(forged).get("/api/v1/me/"), 401, "authentication_error", "invalid_api_key")


def test_malformed_authorization_header_gets_401():
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    assert_error(api.get("/api/v1/me/"), 401, "authentication_error", "malformed_header")


def test_revoked_key_gets_401(make_api):
    api = make_api()
    api_key_revoke(api_key=api.api_key)
    assert_error(api.get("/api/v1/me/"), 401, "authentication_error", "api_key_revoked")


def test_expired_key_gets_401(make_api):
    api = make_api(expires_at=timezone.now() + timedelta(hours=1))
    assert api.get("/api/v1/me/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert_error(api.get("/api/v1/me/"), 401, "authentication_error", "api_key_expired")


def test_last_used_at_is_recorded(make_api):
    api = make_api()
    assert api.api_key.last_used_at is None
    api.get("/api/v1/me/")
    api.api_key.refresh_from_db()
    assert api.api_key.last_used_at is not None


@pytest.mark.parametrize(
    ("scopes", "path", "method", "allowed"),
    [
        (["read"], "/api/v1/test/echo/", "post", False),
        (["contacts"], "/api/v1/test/echo/", "post", True),
        (["send_sms"], "/api/v1/test/send/", "post", True),
        (["send_whatsapp", "read"], "/api/v1/test/send/", "post", False),
        (["contacts"], "/api/v1/api-keys/", "get", False),
    ],
)
def test_a_key_works_only_with_its_scopes(make_api, scopes, path, method, allowed):
    api = make_api(scopes=scopes)
    response = getattr(api, method)(path, {"name": "x"}, format="json")
    if allowed:
        assert response.status_code in (200, 201)
    else:
        assert_error(response, 403, "permission_error")


def test_missing_scope_error_names_the_scope(make_api):
    error = assert_error(
        make_api(scopes=["read"]).post("/api/v1/test/echo/", {"name": "x"}, format="json"),
        403,
        "permission_error",
        "missing_scope",
    )
    assert "'contacts'" in error["message"]


def test_address_outside_the_allowlist_gets_403(make_api):
    api = make_api(allowed_ips=["203.0.113.0/24"])
    assert_error(api.get("/api/v1/me/", REMOTE_ADDR="198.51.100.7"), 403, "permission_error", "ip_not_allowed")
    assert api.get("/api/v1/me/", REMOTE_ADDR="203.0.113.77").status_code == 200


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(make_api, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    api = make_api(allowed_ips=["203.0.113.5"])
    response = api.get("/api/v1/me/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert_error(response, 403, "permission_error", "ip_not_allowed")


def test_forged_left_part_of_forwarded_for_behind_a_trusted_proxy_is_ignored(make_api, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    api = make_api(allowed_ips=["203.0.113.5"])
    forged = api.get("/api/v1/me/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.7")
    assert_error(forged, 403, "permission_error", "ip_not_allowed")
    real = api.get("/api/v1/me/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5")
    assert real.status_code == 200


def test_suspended_client_gets_403(make_api):
    api = make_api()
    client_suspend(client=api.tenant)
    assert_error(api.get("/api/v1/me/"), 403, "permission_error", "client_suspended")


def test_a_key_of_client_a_gets_404_for_client_b_objects(make_session_api):
    owner_a = make_session_api()
    other_key, _ = make_api_key(client=ClientFactory())
    assert_error(owner_a.get(f"/api/v1/api-keys/{other_key.id}/"), 404, "not_found")
    assert_error(owner_a.post(f"/api/v1/api-keys/{other_key.id}/revoke/"), 404, "not_found")
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_no_secret_is_stored_in_clear(make_api):
    api = make_api()
    secret = api.raw_key.split("_")[2]
    stored = ApiKey.objects.filter(pk=api.api_key.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())
    assert api.raw_key not in str(stored)
