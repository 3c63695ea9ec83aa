"""Every broadcast answer is what /api/schema/ declares for it: status and body, errors included."""

from __future__ import annotations

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, Reply
from contacts.models import Contact, ContactList
from tests.broadcasts.conftest import KE, UG
from tests.helpers import assert_error
from tests.openapi import api_schema, assert_matches_schema

pytestmark = pytest.mark.django_db

BROADCASTS = "/api/v1/broadcasts/"
DETAIL = "/api/v1/broadcasts/{id}/"


def test_create_simulate_precheck_and_reads_match_the_schema(shop, daytime, django_capture_on_commit_callbacks):
    precheck = shop.precheck(recipients=[UG, KE, "12"])
    assert precheck.status_code == 200
    assert_matches_schema(precheck, "post", f"{BROADCASTS}precheck/")

    simulated = shop.create(recipients=[UG], simulate=True)
    assert simulated.status_code == 200
    assert (simulated.json()["id"], simulated.json()["simulated"]) == (None, True)
    assert_matches_schema(simulated, "post", BROADCASTS)

    with django_capture_on_commit_callbacks(execute=True):
        created = shop.create(recipients=[UG, KE])
    assert created.status_code == 201
    assert_matches_schema(created, "post", BROADCASTS)
    broadcast_id = created.json()["id"]

    assert_matches_schema(shop.api.get(BROADCASTS), "get", BROADCASTS)
    assert_matches_schema(shop.api.get(f"{BROADCASTS}{broadcast_id}/"), "get", DETAIL)
    assert_matches_schema(shop.api.get("/api/v1/messages/"), "get", "/api/v1/messages/")

    dashboard = shop.api.get(f"{BROADCASTS}dashboard/")
    assert set(dashboard.json()) == {"totals", "results"}
    assert_matches_schema(dashboard, "get", f"{BROADCASTS}dashboard/")

    test_send = shop.api.post(f"{BROADCASTS}{broadcast_id}/test/", {"recipients": [UG]}, format="json")
    assert test_send.status_code == 200
    assert list(test_send.json()) == ["results"]
    assert_matches_schema(test_send, "post", f"{DETAIL}test/")

    not_deletable = shop.api.delete(f"{BROADCASTS}{broadcast_id}/")
    assert_error(not_deletable, 409, "conflict")
    assert_matches_schema(not_deletable, "delete", DETAIL)


def test_a_contact_list_broadcast_and_its_precheck_match_the_schema(shop, daytime):
    members = ContactList.objects.create(client=shop.client, name="Members")
    contact = Contact.objects.create(client=shop.client, phone=UG, first_name="Ann")
    members.memberships.create(contact=contact)
    precheck = shop.precheck(contact_lists=[str(members.pk)])
    assert precheck.status_code == 200, precheck.content
    assert_matches_schema(precheck, "post", f"{BROADCASTS}precheck/")


def test_draft_lifecycle_answers_match_the_schema(shop, daytime):
    draft = shop.create(recipients=[UG], status="draft")
    assert draft.status_code == 201
    assert_matches_schema(draft, "post", BROADCASTS)
    broadcast_id = draft.json()["id"]

    patched = shop.api.patch(f"{BROADCASTS}{broadcast_id}/", {"name": "Renamed"}, format="json")
    assert patched.status_code == 200, patched.content
    assert_matches_schema(patched, "patch", DETAIL)

    not_paused = shop.api.post(f"{BROADCASTS}{broadcast_id}/pause/")
    assert_error(not_paused, 409, "conflict")
    assert_matches_schema(not_paused, "post", f"{DETAIL}pause/")

    deleted = shop.api.delete(f"{BROADCASTS}{broadcast_id}/")
    assert deleted.status_code == 204
    assert_matches_schema(deleted, "delete", DETAIL)


def test_insufficient_credit_and_bad_input_answers_match_the_schema(make_shop, daytime):
    poor = make_shop(balance="0")
    refused = poor.create(recipients=[UG])
    assert_error(refused, 402, "insufficient_credit")
    assert_matches_schema(refused, "post", BROADCASTS)
    assert not Broadcast.objects.filter(client=poor.client).exists()

    invalid = poor.create(recipients=[UG], schedule_mode="sometimes")
    assert_error(invalid, 400, "invalid_request_error")
    assert_matches_schema(invalid, "post", BROADCASTS)

    unknown_list = poor.precheck(contact_lists=["00000000-0000-0000-0000-000000000000"])
    assert unknown_list.status_code in (400, 404)
    assert_matches_schema(unknown_list, "post", f"{BROADCASTS}precheck/")


def test_a_form_body_is_415_as_the_schema_says(shop):
    # Broadcast bodies hold lists and objects: only JSON can carry them (a form once answered not_a_list).
    response = shop.api.post(BROADCASTS, {"name": "x", "recipients": UG, "text": "Hi"}, format="multipart")
    assert_error(response, 415, "invalid_request_error", "unsupported_media_type")
    assert_matches_schema(response, "post", BROADCASTS)
    content = api_schema()["paths"][BROADCASTS]["post"]["requestBody"]["content"]
    assert list(content) == ["application/json"]


def test_replies_match_the_schema(shop):
    bare = Reply.objects.create(
        client=shop.client, urn=f"tel:{UG}", channel="sms", text="hi", received_at=timezone.now()
    )
    Reply.objects.create(
        client=shop.client,
        urn=f"tel:{KE}",
        channel="sms",
        text="STOP",
        keyword="opt_out",
        connector=shop.connector,
        provider_message_id="p1",
        received_at=timezone.now(),
    )
    listed = shop.api.get("/api/v1/replies/")
    assert len(listed.json()["results"]) == 2
    assert_matches_schema(listed, "get", "/api/v1/replies/")
    assert_matches_schema(shop.api.get(f"/api/v1/replies/{bare.pk}/"), "get", "/api/v1/replies/{id}/")
