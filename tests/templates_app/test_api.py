"""/api/v1/templates/ (SPEC §6): create, list with filters, retrieve, PATCH, DELETE; every bad input."""

from __future__ import annotations

import pytest

from accounts.models import Scope
from templates_app.models import Template
from tests.factories.templates_app import TemplateFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"
FIELDS = {
    "id",
    "name",
    "channel",
    "language",
    "category",
    "content",
    "status",
    "rejection_reason",
    "variables",
    "encoding",
    "segments",
    "created_at",
    "updated_at",
}


def test_create_an_sms_template_derives_variables_encoding_and_segments(api):
    response = api.post(
        URL,
        {
            "name": "welcome",
            "channel": "sms",
            "language": "eng",
            "category": "utility",
            "content": "Hi {{first_name|there}}, code {code} for @fields.city.",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert {k: body[k] for k in FIELDS - {"id", "created_at", "updated_at"}} == {
        "name": "welcome",
        "channel": "sms",
        "language": "eng",
        "category": "utility",
        "content": "Hi {{first_name|there}}, code {code} for @fields.city.",
        "status": "approved",
        "rejection_reason": "",
        "variables": ["first_name", "code", "city"],
        "encoding": "gsm7",
        "segments": 1,
    }
    template = Template.objects.get(pk=body["id"])
    assert template.client == api.tenant


def test_defaults_are_sms_english_marketing(api):
    body = api.post(URL, {"name": "n", "content": "x"}, format="json").json()
    defaults = (body["channel"], body["language"], body["category"], body["status"])
    assert defaults == ("sms", "eng", "marketing", "approved")


@pytest.mark.parametrize(
    ("content", "encoding", "segments"),
    [("a" * 161, "gsm7", 2), ("ça" * 36, "ucs2", 2), ("€" * 80, "gsm7", 1), ("😀", "ucs2", 1)],
)
def test_sms_encoding_and_segments_are_those_of_the_content_as_written(api, content, encoding, segments):
    body = api.post(URL, {"name": "n", "content": content}, format="json").json()
    assert (body["encoding"], body["segments"]) == (encoding, segments)


@pytest.mark.parametrize(("channel", "status"), [("whatsapp", "draft"), ("telegram", "approved"), ("rcs", "approved")])
def test_other_channels_have_no_encoding_and_only_whatsapp_needs_approval(api, channel, status):
    body = api.post(URL, {"name": "n", "channel": channel, "content": "Hi {{name}}"}, format="json").json()
    assert (body["status"], body["encoding"], body["segments"], body["variables"]) == (status, None, None, ["name"])


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"name": "", "content": "x"}, "name", "blank"),
        ({"name": "   ", "content": "x"}, "name", "blank"),
        ({"name": "n" * 513, "content": "x"}, "name", "max_length"),
        ({"content": "x"}, "name", "required"),
        ({"name": "n"}, "content", "required"),
        ({"name": "n", "content": ""}, "content", "blank"),
        ({"name": "n", "content": "  \n"}, "content", "blank"),
        ({"name": "n", "content": "x", "channel": "email"}, "channel", "invalid_choice"),
        ({"name": "n", "content": "x", "category": "promo"}, "category", "invalid_choice"),
        ({"name": "n", "content": "x", "language": "en"}, "language", "invalid_language"),
        ({"name": "n", "content": "x", "language": "english"}, "language", "invalid_language"),
        ({"name": "n", "content": "x", "language": "en-US"}, "language", "invalid_language"),
        ({"name": "n", "content": "x", "language": "xqz"}, "language", "invalid_language"),
        ({"name": "n", "content": "x", "language": ""}, "language", "blank"),
        ({"name": ["n"], "content": "x"}, "name", "invalid"),
        ({"name": "n", "content": {"eng": "x"}}, "content", "invalid"),
    ],
)
def test_bad_input_gets_400_naming_the_field_and_creates_nothing(api, payload, field, code):
    error = assert_error(api.post(URL, payload, format="json"), 400, "invalid_request_error")
    assert field in error["fields"], error
    assert error["code"] == code, error
    assert Template.objects.count() == 0


def test_several_bad_fields_are_all_named(api):
    error = assert_error(
        api.post(URL, {"name": "", "content": "", "language": "xx"}, format="json"), 400, "invalid_request_error"
    )
    assert set(error["fields"]) == {"name", "language", "content"}


@pytest.mark.parametrize(("channel", "limit"), [("sms", 1224), ("whatsapp", 1024), ("telegram", 4096), ("rcs", 2500)])
def test_content_limit_per_channel(api, channel, limit):
    ok = api.post(URL, {"name": "at-limit", "channel": channel, "content": "a" * limit}, format="json")
    assert ok.status_code == 201, ok.content
    error = assert_error(
        api.post(URL, {"name": "over", "channel": channel, "content": "a" * (limit + 1)}, format="json"),
        400,
        "invalid_request_error",
        "max_length",
    )
    assert str(limit) in error["fields"]["content"][0]
    assert Template.objects.filter(name="over").count() == 0


def test_name_is_trimmed_and_512_characters_are_allowed(api):
    body = api.post(URL, {"name": "  " + "n" * 512 + " ", "content": "x"}, format="json").json()
    assert body["name"] == "n" * 512


def test_language_is_normalized_to_lower_case(api):
    assert api.post(URL, {"name": "n", "content": "x", "language": "FRA"}, format="json").json()["language"] == "fra"


def test_duplicate_name_channel_language_is_400_on_name(api):
    TemplateFactory(client=api.tenant, name="welcome", channel="sms", language="eng")
    error = assert_error(
        api.post(URL, {"name": "welcome", "channel": "sms", "language": "eng", "content": "x"}, format="json"),
        400,
        "invalid_request_error",
        "duplicate",
    )
    assert list(error["fields"]) == ["name"]
    assert Template.objects.count() == 1


@pytest.mark.parametrize(
    "other", [{"channel": "whatsapp"}, {"language": "fra"}, {"name": "welcome2"}, {"client_is_other": True}]
)
def test_same_name_is_fine_on_another_channel_language_or_client(api, other):
    owner = None if other.pop("client_is_other", False) else api.tenant
    TemplateFactory(**({"client": owner} if owner else {}), name="welcome", channel="sms", language="eng")
    payload = {"name": "welcome", "channel": "sms", "language": "eng", "content": "x"} | other
    assert api.post(URL, payload, format="json").status_code == 201


def test_retrieve(api):
    template = TemplateFactory(client=api.tenant)
    body = api.get(f"{URL}{template.pk}/").json()
    assert (body["id"], body["name"], set(body)) == (str(template.pk), template.name, FIELDS)


def test_another_clients_template_is_404_everywhere(api):
    theirs = TemplateFactory(channel="whatsapp")
    url = f"{URL}{theirs.pk}/"
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.patch(url, {"content": "hacked"}, format="json"), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")
    assert_error(api.post(f"{url}submit/"), 404, "not_found")
    assert api.get(URL).json()["results"] == []
    theirs.refresh_from_db()
    assert (theirs.content, theirs.status) == ("Hi {{first_name|there}}, your code is {{code}}.", "draft")


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_ids_are_404(api, bad_id):
    assert_error(api.get(f"{URL}{bad_id}/"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "", {"name": "n", "content": "x"}),
        ("patch", "{id}/", {"content": "y"}),
        ("delete", "{id}/", None),
        ("post", "{id}/submit/", None),
    ],
)
def test_writes_need_the_templates_scope(make_api, method, path, payload):
    api = make_api(scopes=[Scope.READ, Scope.SEND_SMS, Scope.CONTACTS])
    template = TemplateFactory(client=api.tenant, channel="whatsapp")
    response = getattr(api, method)(URL + path.format(id=template.pk), payload, format="json")
    assert_error(response, 403, "permission_error", "missing_scope")
    template.refresh_from_db()
    assert (template.content, template.status) == ("Hi {{first_name|there}}, your code is {{code}}.", "draft")
    assert Template.objects.count() == 1


def test_reads_need_the_read_scope(make_api):
    api = make_api(scopes=[Scope.TEMPLATES])
    template = TemplateFactory(client=api.tenant)
    assert_error(api.get(URL), 403, "permission_error", "missing_scope")
    assert_error(api.get(f"{URL}{template.pk}/"), 403, "permission_error", "missing_scope")
    assert api.post(URL, {"name": "n", "content": "x"}, format="json").status_code == 201


def test_viewer_reads_but_cannot_write_and_manager_writes(make_session_api):
    viewer = make_session_api(role="viewer")
    assert viewer.get(URL).status_code == 200
    assert_error(viewer.post(URL, {"name": "n", "content": "x"}, format="json"), 403, "permission_error")
    manager = make_session_api(role="manager")
    assert manager.post(URL, {"name": "n", "content": "x"}, format="json").status_code == 201


def test_put_is_not_allowed(api):
    template = TemplateFactory(client=api.tenant)
    assert api.put(f"{URL}{template.pk}/", {"name": "n", "content": "x"}, format="json").status_code == 405


def test_delete(api):
    template = TemplateFactory(client=api.tenant)
    assert api.delete(f"{URL}{template.pk}/").status_code == 204
    assert not Template.objects.filter(pk=template.pk).exists()


def test_a_create_race_on_the_unique_constraint_is_the_same_400(api, monkeypatch):
    TemplateFactory(client=api.tenant, name="welcome")
    monkeypatch.setattr("templates_app.services._is_duplicate", lambda template: False)  # lose the race
    error = assert_error(
        api.post(URL, {"name": "welcome", "content": "x"}, format="json"), 400, "invalid_request_error", "duplicate"
    )
    assert list(error["fields"]) == ["name"]
    assert Template.objects.count() == 1


def test_a_repeated_create_with_the_same_idempotency_key_is_replayed(api):
    payload = {"name": "welcome", "content": "Hi {{name}}"}
    first = api.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="tpl-1")
    again = api.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="tpl-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Template.objects.count() == 1
