"""The OpenAPI schema declares every error an operation really answers, in SPEC §4's envelope."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework import exceptions
from rest_framework.test import APIClient

from accounts.api.errors import TYPE_BY_STATUS, PayloadTooLarge, build_error
from accounts.exceptions import ConflictError, IdempotencyError, InsufficientCreditError, NotFoundError
from tests.helpers import assert_error
from tests.openapi import api_schema, assert_matches_schema, operations

ERROR_REF = {"$ref": "#/components/schemas/Error"}


def test_the_schema_is_valid_openapi_and_generates_without_warnings():
    out = StringIO()
    args = ["--validate", "--fail-on-warn", "--format", "openapi-json"]
    call_command("spectacular", *args, stdout=out, stderr=StringIO())
    assert '"Error"' in out.getvalue()


def test_every_operation_declares_the_errors_any_request_can_meet_in_the_error_envelope():
    # The key, its scope, the rate limit, Accept; a NUL in the query string; any body (type, size, syntax).
    assert len(operations()) > 40
    for method, path, operation in operations():
        for status in ("400", "401", "403", "406", "413", "415", "429"):
            response = operation["responses"].get(status)
            assert response is not None, f"{method.upper()} {path} does not declare {status}"
            assert response["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
            assert response["description"], (method, path, status)


def test_every_declared_error_status_uses_the_error_component():
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)


def test_429_declares_the_retry_after_header():
    for method, path, operation in operations():
        assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)


@pytest.mark.parametrize(
    ("method", "path", "declared", "not_declared"),
    [
        # Lists: nothing is looked up by id, nothing conflicts.
        ("get", "/api/v1/broadcasts/", {400}, {402, 404, 409}),
        # Detail routes: an unknown id.
        ("get", "/api/v1/contacts/{id}/", {404}, {402, 409}),
        # Every POST: Idempotency-Key conflicts.
        ("post", "/api/v1/contact-lists/", {400, 409, 413, 415}, {402, 404}),
        # A body naming other objects by id (contacts, lists): unknown ids answer 404.
        ("post", "/api/v1/contacts/", {400, 404, 409}, {402}),
        ("post", "/api/v1/broadcasts/", {400, 402, 404, 409, 413, 415}, set()),
        ("post", "/api/v1/broadcasts/precheck/", {400, 404}, {402}),
        ("post", "/api/v1/broadcasts/{id}/send/", {402, 404, 409}, set()),
        ("post", "/api/v1/broadcasts/{id}/pause/", {404, 409}, {402}),
        ("patch", "/api/v1/templates/{id}/", {400, 404, 409}, set()),
        # DELETE: 409 only where a state forbids it.
        ("delete", "/api/v1/broadcasts/{id}/", {404, 409}, {402}),
        ("delete", "/api/v1/templates/{id}/", {404, 409}, {402}),
        ("delete", "/api/v1/contacts/{id}/", {404}, {402, 409}),
        ("delete", "/api/v1/contact-lists/{id}/contacts/", {404}, {409}),
        ("get", "/api/v1/me/", set(), {402, 404, 409}),
    ],
)
def test_error_statuses_follow_the_operation_shape(method, path, declared, not_declared):
    statuses = {int(s) for s in api_schema()["paths"][path][method]["responses"]}
    assert declared <= statuses
    assert not (not_declared & statuses)


def test_a_delete_that_reads_a_body_documents_it():
    operation = api_schema()["paths"]["/api/v1/contact-lists/{id}/contacts/"]["delete"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ContactListMembersRequest"}


def test_the_error_component_is_the_envelope_every_error_is_built_with():
    detail = api_schema()["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"type", "code", "message", "fields"}
    types = set(api_schema()["components"]["schemas"]["ErrorTypeEnum"]["enum"])
    assert set(TYPE_BY_STATUS.values()) | {"idempotency_error", "api_error"} == types
    for exc in [
        exceptions.ValidationError({"name": ["This field is required."]}),
        exceptions.NotAuthenticated(),
        exceptions.PermissionDenied(),
        exceptions.NotFound(),
        exceptions.UnsupportedMediaType("text/plain"),
        exceptions.Throttled(wait=3),
        PayloadTooLarge(),
        ConflictError(),
        IdempotencyError(),
        InsufficientCreditError(),
        NotFoundError(),
        RuntimeError("boom"),
    ]:
        _, body, _ = build_error(exc)
        assert body["error"]["type"] in types, (exc, body)
        assert set(body["error"]) == {"type", "code", "message", "fields"}, (exc, body)
        assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in body["error"]["fields"].values())


@pytest.mark.django_db
def test_real_error_answers_match_the_schema(api, make_api):
    not_found = api.get("/api/v1/contacts/00000000-0000-0000-0000-000000000000/")
    assert_error(not_found, 404, "not_found")
    assert_matches_schema(not_found, "get", "/api/v1/contacts/{id}/")

    invalid = api.get("/api/v1/contacts/?limit=0")
    assert_error(invalid, 400, "invalid_request_error")
    assert_matches_schema(invalid, "get", "/api/v1/contacts/")

    unsupported = api.post("/api/v1/contact-lists/", "name=x", content_type="text/plain")
    assert_error(unsupported, 415, "invalid_request_error")
    assert_matches_schema(unsupported, "post", "/api/v1/contact-lists/")

    created = api.post("/api/v1/contact-lists/", {"name": "VIP"}, format="json")
    assert_matches_schema(created, "post", "/api/v1/contact-lists/")
    taken = api.post("/api/v1/contact-lists/", {"name": "VIP"}, format="json")
    assert_error(taken, 409, "conflict")
    assert_matches_schema(taken, "post", "/api/v1/contact-lists/")

    unknown_member = api.post(
        f"/api/v1/contact-lists/{created.json()['id']}/contacts/",
        {"contacts": ["00000000-0000-0000-0000-000000000000"]},
        format="json",
    )
    assert_error(unknown_member, 404, "not_found")
    assert_matches_schema(unknown_member, "post", "/api/v1/contact-lists/{id}/contacts/")

    nul = api.get("/api/v1/me/?x=%00")  # any request's query string is read
    assert_error(nul, 400, "invalid_request_error", "nul_character")
    assert_matches_schema(nul, "get", "/api/v1/me/")

    junk_body = api.generic("DELETE", "/api/v1/contacts/00000000-0000-0000-0000-000000000000/", "x", "text/plain")
    assert_error(junk_body, 415, "invalid_request_error", "unsupported_media_type")
    assert_matches_schema(junk_body, "delete", "/api/v1/contacts/{id}/")

    html_only = api.get("/api/v1/me/", HTTP_ACCEPT="text/html")
    assert_error(html_only, 406, "invalid_request_error", "not_acceptable")
    assert_matches_schema(html_only, "get", "/api/v1/me/")

    anonymous = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer hk_nope_nope")
    assert_error(anonymous, 401, "authentication_error")
    assert_matches_schema(anonymous, "get", "/api/v1/me/")

    no_scope = make_api(scopes=["read"]).post("/api/v1/contact-lists/", {"name": "x"}, format="json")
    assert_error(no_scope, 403, "permission_error", "missing_scope")
    assert_matches_schema(no_scope, "post", "/api/v1/contact-lists/")


def test_the_broadcast_body_documents_exactly_the_fields_validation_takes():
    from broadcasts import validation
    from broadcasts.api.serializers import BroadcastCreateSerializer

    assert set(BroadcastCreateSerializer().fields) == validation.FIELDS
    for name in ("BroadcastCreateRequest", "PatchedBroadcastCreateRequest"):  # create, precheck; PATCH
        assert api_schema()["components"]["schemas"][name]["additionalProperties"] is False  # 400 unknown_field
    for path, method in [("/api/v1/broadcasts/", "post"), ("/api/v1/broadcasts/precheck/", "post")]:
        content = api_schema()["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/BroadcastCreateRequest"}


def test_other_bodies_leave_additional_properties_open():
    # DRF serializers ignore fields they do not know; the schema must not promise a 400 for them.
    assert "additionalProperties" not in api_schema()["components"]["schemas"]["ContactWriteRequest"]
