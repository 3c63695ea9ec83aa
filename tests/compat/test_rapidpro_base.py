"""SPEC §14, RapidPro v2: what every endpoint shares (COMPAT.md §2.2) — `Token` keys, 403 for a
bad or missing key, DRF's error shapes, 404 `{"detail": "Not found."}` for what Herald lacks,
integer `Retry-After` on 429, and the Herald rules (tenancy, scopes) underneath."""

from __future__ import annotations

import pytest

from accounts.api.throttles import COMPAT_SEND, client_rate
from compat.rapidpro.base import format_datetime, parse_datetime


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v2/org.json", "/api/v2/workspace.json", "/api/v2/org"])
def test_org_answers_the_keys_client(rapidpro, path):
    rapidpro.tenant.language = "fra"
    rapidpro.tenant.save()
    response = rapidpro.get(path)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "uuid": str(rapidpro.tenant.pk),
        "name": rapidpro.tenant.name,
        "country": rapidpro.tenant.country,
        "languages": ["fra"],
        "primary_language": "fra",
        "timezone": rapidpro.tenant.timezone,
        "date_style": "day_first",
        "anon": False,
        "credits": {"used": -1, "remaining": -1},
    }


@pytest.mark.django_db
def test_a_bearer_key_works_too(make_api):
    api = make_api()
    assert api.get("/api/v2/org.json").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Token hk_nope", "Invalid API key."),
        ("Token", "Malformed Authorization header; send 'Authorization: Bearer <api key>'."),
    ],
)
def test_a_bad_or_missing_key_is_a_403_as_in_rapidpro(make_rapidpro, header, detail):
    api = make_rapidpro()
    api.credentials(**({"HTTP_AUTHORIZATION": header} if header else {}))
    response = api.get("/api/v2/org.json")
    assert response.status_code == 403
    assert response.json() == {"detail": detail}
    assert "WWW-Authenticate" not in response


@pytest.mark.django_db
def test_a_suspended_client_and_a_missing_scope_are_403s(make_rapidpro):
    api = make_rapidpro(scopes=["contacts"])
    response = api.get("/api/v2/org.json")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    api.tenant.status = "suspended"
    api.tenant.save()
    assert api.get("/api/v2/org.json").json() == {"detail": "This client is suspended."}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v2/flows.json", "/api/v2/runs.json", "/api/v2/campaigns", "/api/v2/"])
def test_what_herald_lacks_is_rapidpros_404(rapidpro, path):
    response = rapidpro.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    # A POST without a CSRF token (an API client never sends one) is the same 404, not a 403.
    rapidpro.handler.enforce_csrf_checks = True
    posted = rapidpro.post(path, {"a": 1}, format="json")
    assert (posted.status_code, posted.json()) == (404, {"detail": "Not found."})


@pytest.mark.django_db
def test_stubs_answer_so_that_scripts_go_on(rapidpro):
    for path in ("/api/v2/labels.json", "/api/v2/channels.json"):
        assert rapidpro.get(path).json() == {"next": None, "previous": None, "results": []}
    assert (
        rapidpro.post("/api/v2/message_actions.json", {"messages": [], "action": "label"}, format="json").status_code
        == 204
    )


@pytest.mark.django_db
def test_a_throttled_read_has_an_integer_retry_after_and_drfs_words(make_rapidpro, settings, redis_url):
    settings.API_RATE_LIMIT = "2/h"
    api = make_rapidpro()
    assert [api.get("/api/v2/org.json").status_code for _ in range(2)] == [200, 200]
    response = api.get("/api/v2/org.json")
    assert response.status_code == 429
    retry = int(response["Retry-After"])
    assert retry >= 1
    assert response.json() == {"detail": f"Request was throttled. Expected available in {retry} seconds."}


@pytest.mark.django_db
def test_the_compat_send_limit_is_a_setting_and_a_client_override(tenant, settings):
    settings.COMPAT_SEND_RATE_LIMIT = "100/h"
    assert client_rate(tenant, COMPAT_SEND).limit == 100
    tenant.compat_send_rate_limit = "5/m"
    assert client_rate(tenant, COMPAT_SEND).limit == 5


def test_datetimes_are_utc_with_six_digits_and_before_after_read_iso8601():
    parsed = parse_datetime("2026-12-06T09:15:02.1234+03:00")
    assert format_datetime(parsed) == "2026-12-06T06:15:02.123400Z"
    assert format_datetime(parse_datetime("2026-12-06T09:15:02Z")) == "2026-12-06T09:15:02.000000Z"
    assert parse_datetime("2026-12-06") is not None
    assert parse_datetime("yesterday") is None


@pytest.mark.django_db
def test_the_compat_paths_are_not_in_the_schema(rapidpro):
    schema = rapidpro.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert "/api/v2/" not in schema.content.decode()
