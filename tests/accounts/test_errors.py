"""SPEC §4: every error, DRF's and Django's own included, answers the same envelope."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


def test_validation_error_names_each_field(api):
    response = api.post("/api/v1/test/echo/", {"name": "x" * 11, "count": 0}, format="json")
    error = assert_error(response, 400, "invalid_request_error", "max_length")
    assert error["fields"] == {
        "name": ["Ensure this field has no more than 10 characters."],
        "count": ["Ensure this value is greater than or equal to 1."],
    }
    assert error["message"].startswith("name: Ensure this field has no more than 10 characters.")


def test_required_field_error(api):
    error = assert_error(api.post("/api/v1/test/echo/", {}, format="json"), 400, "invalid_request_error", "required")
    assert error["fields"] == {"name": ["This field is required."]}


def test_nested_errors_get_dotted_field_names(api):
    body = {"name": "ok", "items": [{"a": 1}, {"b": "x"}]}
    error = assert_error(api.post("/api/v1/test/echo/", body, format="json"), 400, "invalid_request_error")
    assert error["fields"] == {"items.1.b": ["A valid integer is required."]}


def test_malformed_json_is_400(api):
    response = api.post("/api/v1/test/echo/", "{not json", content_type="application/json")
    error = assert_error(response, 400, "invalid_request_error", "parse_error")
    assert "JSON" in error["message"]


def test_unsupported_media_type_is_415(api):
    response = api.post("/api/v1/test/echo/", "name=x", content_type="text/plain")
    assert_error(response, 415, "invalid_request_error", "unsupported_media_type")


def test_method_not_allowed_is_405(api):
    assert_error(api.delete("/api/v1/me/"), 405, "invalid_request_error", "method_not_allowed")


def test_unknown_api_path_is_404_envelope(api):
    assert_error(api.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_unknown_api_path_is_404_envelope_even_with_debug(api, settings):
    settings.DEBUG = True
    assert_error(api.get("/api/v1/no-such-thing/"), 404, "not_found")


UNSAFE = ["post", "put", "patch", "delete"]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", [*UNSAFE, "get", "options"])
@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/nope", "/api/v1/test/echo/extra/"])
def test_unknown_api_paths_answer_the_404_envelope_whatever_the_method(settings, path, method, debug):
    """Even where Django's CSRF middleware would refuse an unsafe method with its HTML page."""
    settings.DEBUG = debug
    response = getattr(APIClient(enforce_csrf_checks=True), method)(path)
    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


def test_a_logged_in_browser_also_gets_the_404_envelope(make_session_api):
    api = make_session_api()
    api.handler.enforce_csrf_checks = True
    assert_error(api.post("/api/v1/no-such-thing/", {}, format="json"), 404, "not_found")


def test_a_missing_trailing_slash_is_pointed_out():
    error = assert_error(APIClient().post("/api/v1/test/echo", {}, format="json"), 404, "not_found")
    assert (
        error["message"]
        == "No endpoint at /api/v1/test/echo; did you mean /api/v1/test/echo/ (with the trailing slash)?"
    )


@pytest.mark.parametrize("method", UNSAFE)
def test_a_csrf_refusal_under_api_is_the_403_envelope(method):
    response = getattr(APIClient(enforce_csrf_checks=True), method)("/api/v1/test/plain/")
    error = assert_error(response, 403, "permission_error", "csrf_failed")
    assert error["message"].startswith("CSRF check failed")


def test_a_csrf_refusal_outside_api_is_still_django_page(client):
    client.handler.enforce_csrf_checks = True
    response = client.post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
@pytest.mark.parametrize("method", UNSAFE)
def test_schema_and_docs_answer_405_in_the_json_envelope(path, method):
    response = getattr(APIClient(enforce_csrf_checks=True), method)(path)
    assert response["Content-Type"] == "application/json"
    assert_error(response, 405, "invalid_request_error", "method_not_allowed")


def test_schema_and_docs_still_render_on_get():
    client = APIClient()
    assert client.get("/api/schema/")["Content-Type"].startswith("application/vnd.oai.openapi")
    assert client.get("/api/docs/")["Content-Type"].startswith("text/html")


def test_conflict_is_409(api):
    error = assert_error(api.post("/api/v1/test/conflict/"), 409, "conflict", "conflict")
    assert error["message"] == "A sent broadcast cannot be paused."


def test_insufficient_credit_is_402(api):
    assert_error(api.post("/api/v1/test/credit/"), 402, "insufficient_credit", "insufficient_credit")


def test_unhandled_exception_is_500_without_internals(api, caplog):
    response = api.get("/api/v1/test/boom/")
    error = assert_error(response, 500, "api_error", "internal_error")
    assert "hunter2" not in response.content.decode()
    assert "secret.py" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["message"] == "Something went wrong on our side."


def test_body_over_5_mb_is_413(api):
    body = json.dumps({"name": "x", "pad": "a" * (5 * 1024 * 1024)})
    response = api.post("/api/v1/test/echo/", body, content_type="application/json")
    assert_error(response, 413, "invalid_request_error", "request_too_large")


def test_body_just_under_5_mb_is_accepted(api):
    body = json.dumps({"name": "x", "pad": "a" * (5 * 1024 * 1024 - 100)})
    assert api.post("/api/v1/test/echo/", body, content_type="application/json").status_code == 201


def test_too_many_form_fields_is_400_not_500(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{i}=x" for i in range(11))  # found by the schema fuzzer: Django's TooManyFieldsSent
    response = api.post("/api/v1/test/echo/", body, content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, "invalid_request_error", "too_many_fields")


def test_413_applies_before_authentication():
    body = "a" * (5 * 1024 * 1024 + 1)
    response = APIClient().post("/api/v1/test/echo/", body, content_type="application/json")
    assert_error(response, 413, "invalid_request_error", "request_too_large")


def test_limit_out_of_range_is_400(make_session_api):
    api = make_session_api()
    for bad in ["0", "1001", "abc", "-5"]:
        error = assert_error(api.get(f"/api/v1/api-keys/?limit={bad}"), 400, "invalid_request_error")
        assert "limit" in error["fields"]


def test_bad_cursor_is_400(make_session_api):
    api = make_session_api()
    error = assert_error(api.get("/api/v1/api-keys/?cursor=garbage"), 400, "invalid_request_error")
    assert "cursor" in error["fields"]
