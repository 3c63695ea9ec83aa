"""Unknown dashboard URLs answer the dashboard's own 404 page, never Django's list of URL patterns."""

from __future__ import annotations

import pytest

from tests.factories.accounts import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URLCONF_LIST = "Using the URLconf defined in"  # the heading of Django's technical 404 page


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize("path", ["/no-such-page/", "/broadcasts/42/nope", "/static-ish"])
def test_an_unknown_page_is_the_dashboard_404(client, debug, path):
    response = client.get(path)
    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "dashboard/base.html"]
    body = response.content.decode()
    assert "Page not found" in body
    assert URLCONF_LIST not in body


def test_the_404_page_escapes_the_path(client, debug):
    body = client.get("/<script>alert(1)</script>/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body


def test_an_unknown_admin_page_in_production_is_the_same_page(client, settings):
    settings.DEBUG = False
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get("/admin/no-such-app/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/admin", "/admin/"), ("/login", "/login/"), ("/login?next=/x", "/login/?next=/x")],
)
def test_a_missing_trailing_slash_still_redirects(client, debug, path, expected):
    response = client.get(path)
    assert (response.status_code, response["Location"]) == (301, expected)


def test_the_routes_before_the_catch_all_keep_working(client, debug):
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/admin/").status_code == 302  # to the admin login
    assert client.get("/login/").status_code == 200
    assert client.get("/static/dashboard/herald.css").status_code == 200
    assert_error(client.get("/api/v1/nope/"), 404, "not_found")


def test_unknown_hooks_urls_keep_the_json_envelope(client, debug):
    client.handler.enforce_csrf_checks = True
    assert_error(client.post("/hooks/nope/status/"), 404, "not_found")


def test_a_post_to_an_unknown_page_is_a_404_not_a_csrf_refusal(client, debug):
    client.handler.enforce_csrf_checks = True
    assert client.post("/no-such-page/").status_code == 404
