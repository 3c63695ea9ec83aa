"""A NUL character anywhere in a request (body or query, key or value) answers 400 naming it, and
nothing is written: PostgreSQL cannot store one, so it used to answer 500 from wherever it landed."""

from __future__ import annotations

import pytest

from accounts.api.inputs import MAX_JSON_DEPTH
from accounts.models import IdempotencyRecord
from broadcasts.models import Broadcast
from contacts.models import Contact, ContactImport, ContactList
from templates_app.models import Template
from tests.contacts.files import csv_bytes, upload
from tests.factories.contacts import ContactFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

UG = "+256772000001"
NUL_MESSAGE = "The NUL character (\\u0000) is not allowed."


def written():
    return {
        model.__name__: model.objects.count()
        for model in (Broadcast, Contact, ContactList, ContactImport, Template, IdempotencyRecord)
    }


BROADCAST = {"name": "Promo", "text": "Hello", "recipients": [UG]}

CASES = {
    "broadcast name": ("/api/v1/broadcasts/", BROADCAST | {"name": "Pro\x00mo"}, {"name"}),
    "broadcast text": ("/api/v1/broadcasts/", BROADCAST | {"text": "Hel\x00lo"}, {"text"}),
    "broadcast text by language": (
        "/api/v1/broadcasts/",
        BROADCAST | {"text": {"eng": "Hello", "fra": "Sal\x00ut"}, "base_language": "eng"},
        {"text.fra"},
    ),
    "broadcast language key": ("/api/v1/broadcasts/", BROADCAST | {"text": {"en\x00g": "Hello"}}, {"text.en\\u0000g"}),
    "a recipient": ("/api/v1/broadcasts/", BROADCAST | {"recipients": [UG, "+25677\x002000002"]}, {"recipients.1"}),
    "recipient variables": (
        "/api/v1/broadcasts/",
        {"name": "P", "text": "Hi {{city}}", "recipient_variables": [{"phone": UG, "city": "Kam\x00pala"}]},
        {"recipient_variables.0.city"},
    ),
    "precheck": ("/api/v1/broadcasts/precheck/", BROADCAST | {"name": "\x00"}, {"name"}),
    "several at once": ("/api/v1/broadcasts/", BROADCAST | {"name": "\x00", "text": "\x00"}, {"name", "text"}),
    "contact first name": ("/api/v1/contacts/", {"phone": UG, "first_name": "Am\x00ina"}, {"first_name"}),
    "contact last name": ("/api/v1/contacts/", {"phone": UG, "last_name": "\x00"}, {"last_name"}),
    "contact field value": ("/api/v1/contacts/", {"phone": UG, "fields": {"city": "Kam\x00pala"}}, {"fields.city"}),
    "contact field key": ("/api/v1/contacts/", {"phone": UG, "fields": {"ci\x00ty": "Gulu"}}, {"fields.ci\\u0000ty"}),
    "list name": ("/api/v1/contact-lists/", {"name": "VIP\x00"}, {"name"}),
    "template content": ("/api/v1/templates/", {"name": "promo", "content": "Hi\x00"}, {"content"}),
    "template name": ("/api/v1/templates/", {"name": "pro\x00mo", "content": "Hi"}, {"name"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_nul_in_a_json_body_is_400_naming_where_and_writes_nothing(api, case):
    url, body, fields = CASES[case]
    before = written()
    response = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"nul-{case}")
    error = assert_error(response, 400, "invalid_request_error", "nul_character")
    assert error["fields"] == {key: [NUL_MESSAGE] for key in sorted(fields)}
    assert "\x00" not in response.content.decode()
    assert written() == before  # the idempotency record included: a fixed body may be sent with the key


def test_the_message_names_the_field(api):
    response = api.post("/api/v1/contact-lists/", {"name": "\x00"}, format="json")
    error = assert_error(response, 400, "invalid_request_error")
    assert error["message"] == f"name: {NUL_MESSAGE}"


def test_a_nul_in_a_patch_changes_nothing(api):
    contact = ContactFactory(client=api.tenant, phone=UG, first_name="Amina", fields={"city": "Gulu"})
    response = api.patch(f"/api/v1/contacts/{contact.pk}/", {"fields": {"city": "Kam\x00pala"}}, format="json")
    error = assert_error(response, 400, "invalid_request_error", "nul_character")
    assert error["fields"] == {"fields.city": [NUL_MESSAGE]}
    contact.refresh_from_db()
    assert (contact.first_name, contact.fields) == ("Amina", {"city": "Gulu"})


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/contact-lists/", {"name": "VIP\x00"}, "name"),
        ("/api/v1/contact-imports/", {"file": upload(csv_bytes([["phone"], [UG]])), "list_name": "L\x00"}, "list_name"),
    ],
)
def test_a_nul_in_a_form_body_is_400(api, url, body, field):
    before = written()
    error = assert_error(api.post(url, body, format="multipart"), 400, "invalid_request_error", "nul_character")
    assert error["fields"] == {field: [NUL_MESSAGE]}
    assert written() == before


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/contacts/?search=Am%00ina", "search"),
        ("/api/v1/messages/?urn=tel:%2B256772%00000001", "urn"),
        ("/api/v1/broadcasts/?na%00me=x", "na\\u0000me"),
        ("/api/v1/contacts/?search=x&phone=%00", "phone"),
    ],
)
def test_a_nul_in_a_query_parameter_is_400(api, query, field):
    error = assert_error(api.get(query), 400, "invalid_request_error", "nul_character")
    assert error["fields"] == {field: [NUL_MESSAGE]}


def test_a_nul_deep_in_a_body_is_found(api):
    body: object = "\x00"
    for _ in range(MAX_JSON_DEPTH - 1):
        body = [body]
    response = api.post("/api/v1/contact-lists/", {"name": "VIP", "deep": body}, format="json")
    error = assert_error(response, 400, "invalid_request_error", "nul_character")
    assert list(error["fields"]) == ["deep" + ".0" * (MAX_JSON_DEPTH - 1)]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 1_100, 100_000])
def test_json_nested_too_deeply_is_400_not_500(api, depth):
    body = '{"name": ' + "[" * depth + "]" * depth + "}"  # the object itself is one level more
    response = api.post("/api/v1/contact-lists/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep")
    error = assert_error(response, 400, "invalid_request_error", "parse_error")
    assert error["message"] == f"JSON parse error - objects and arrays may nest at most {MAX_JSON_DEPTH} deep."
    assert written() == dict.fromkeys(written(), 0)
