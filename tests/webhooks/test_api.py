"""The endpoints API: shapes, validation in SPEC §4's envelope, scopes and tenancy."""

from __future__ import annotations

import base64
import uuid

import pytest

from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/herald"


@pytest.fixture(autouse=True)
def _public_names_resolve(allow_private):
    """example.com resolves nowhere in this sandbox: URLs are checked for their form here; the
    private-address rule has its own tests (test_addresses.py)."""


def create(api, **body):
    return api.post("/api/v1/webhooks/", {"url": URL, "events": ["*"], **body}, format="json")


def test_create_answers_the_secret_once_in_standard_webhooks_form(api):
    answer = create(api, events=["message.delivered", "message.failed"])
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"id", "url", "events", "format", "active", "disabled_reason", "created_at", "secret"}
    assert (body["url"], body["events"], body["active"], body["disabled_reason"]) == (
        URL,
        ["message.delivered", "message.failed"],
        True,
        "",
    )
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 32
    shown = api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in shown
    assert "secret" not in api.get("/api/v1/webhooks/").json()["results"][0]


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url", "http:// or https://"),
        ({"url": "hooks.example.com/x"}, "url", "http:// or https://"),
        ({"url": "https://user:pw@hooks.example.com/x"}, "url", "user name or password"),
        ({"events": ["message.exploded"]}, "events", "Unknown event 'message.exploded'"),
        ({"events": []}, "events", "at least one event"),
        ({"events": ["*", "message.sent"]}, "events", "stands alone"),
        ({"events": ["webhook.test"]}, "events", "Unknown event"),
        ({"events": "message.sent"}, "events", ""),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_creates_nothing(api, body, field, fragment):
    answer = create(api, **body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert list(error["fields"]) == [field]
    assert fragment in error["fields"][field][0]
    assert not WebhookEndpoint.objects.exists()


def test_list_is_newest_first_and_filters_by_active(api):
    first = create(api).json()["id"]
    second = create(api).json()["id"]
    api.patch(f"/api/v1/webhooks/{first}/", {"active": False}, format="json")
    assert [e["id"] for e in api.get("/api/v1/webhooks/").json()["results"]] == [second, first]
    assert [e["id"] for e in api.get("/api/v1/webhooks/?active=false").json()["results"]] == [first]
    assert api.get("/api/v1/webhooks/?colour=red").status_code == 400


def test_patch_changes_url_and_events_and_active(api):
    endpoint = create(api).json()["id"]
    answer = api.patch(
        f"/api/v1/webhooks/{endpoint}/", {"url": URL + "/v2", "events": ["contact.opted_out"]}, format="json"
    )
    assert answer.status_code == 200
    assert (answer.json()["url"], answer.json()["events"]) == (URL + "/v2", ["contact.opted_out"])
    off = api.patch(f"/api/v1/webhooks/{endpoint}/", {"active": False}, format="json").json()
    assert (off["active"], off["disabled_reason"]) == (False, "Disabled by request.")
    on = api.patch(f"/api/v1/webhooks/{endpoint}/", {"active": True}, format="json").json()
    assert (on["active"], on["disabled_reason"]) == (True, "")
    bad = api.patch(f"/api/v1/webhooks/{endpoint}/", {"events": []}, format="json")
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["events"]


def test_delete_answers_204(api):
    endpoint = create(api).json()["id"]
    assert api.delete(f"/api/v1/webhooks/{endpoint}/").status_code == 204
    assert api.get(f"/api/v1/webhooks/{endpoint}/").status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"active": False}),
        ("delete", "", None),
        ("post", "rotate-secret/", None),
        ("post", "test/", None),
        ("get", "deliveries/", None),
    ],
)
def test_another_clients_endpoint_answers_404(api, make_api, method, suffix, body):
    theirs = create(make_api()).json()["id"]
    answer = getattr(api, method)(f"/api/v1/webhooks/{theirs}/{suffix}", body, format="json")
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found"
    assert WebhookEndpoint.objects.get(pk=theirs).active


def test_an_unknown_id_answers_404(api):
    assert api.get(f"/api/v1/webhooks/{uuid.uuid4()}/deliveries/").status_code == 404
    assert api.get("/api/v1/webhooks/not-a-uuid/").status_code == 404


def test_writes_need_the_webhooks_scope_and_reads_take_read_or_webhooks(make_api):
    reader = make_api(scopes=["read"])
    refused = create(reader)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    manager = make_api(scopes=["webhooks"])
    made = create(manager)
    assert made.status_code == 201
    assert manager.get("/api/v1/webhooks/").status_code == 200
    assert manager.get(f"/api/v1/webhooks/{made.json()['id']}/deliveries/").status_code == 200
    assert make_api(scopes=["contacts"]).get("/api/v1/webhooks/").status_code == 403


def test_deliveries_refuse_unknown_filters_and_bad_outcomes(api):
    endpoint = create(api).json()["id"]
    assert api.get(f"/api/v1/webhooks/{endpoint}/deliveries/?outcome=exploded").status_code == 400
    answer = api.get(f"/api/v1/webhooks/{endpoint}/deliveries/?status=failed")
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == ["status"]
    assert api.get(f"/api/v1/webhooks/{endpoint}/deliveries/?created_after=2020-01-01T00:00:00Z").status_code == 200
