# ruff: noqa: F811 - the shop fixtures are imported from the broadcasts suite, then used by name
"""SPEC §14, Teekrr (seed 000, COMPAT.md §5): `POST /teekrr/sms` — Teekrr's camelCase body renamed
onto the native create, answered `{"data": {...}}` with money as strings, errors in Herald's envelope
with Teekrr's field names (and Teekrr's own `message` / `errors`), over Herald's tenancy, scopes,
Idempotency-Key and COMPAT_SEND_RATE_LIMIT."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Membership, Scope
from accounts.services import api_key_revoke
from broadcasts.models import Broadcast, Message
from compat.teekrr.base import teekrr_field, teekrr_message
from compat.teekrr.sms import native_request
from tests.broadcasts.conftest import (  # noqa: F401 - fixtures
    FR,
    KE,
    UG,
    Shop,
    _ledger_replays,
    daytime,
    make_shop,
    shop,
)
from tests.factories.broadcasts import SenderFactory
from tests.factories.contacts import ContactFactory
from tests.factories.templates_app import TemplateFactory
from wallets.models import Wallet
from webhooks import events
from webhooks.formats import TEEKRR, render

pytestmark = pytest.mark.django_db

SMS = "/teekrr/sms"
UG2 = "+256772000002"
UG3 = "+256772000003"
DE = "+4915112345678"  # no route in the shop
UG_SEGMENT = Decimal("0.009400")  # 35 UGX × 0.000268571
ONE = {"campaignName": "x", "type": "quick broadcast", "templateContent": "Hi", "recipients": [UG]}


def sms(shop: Shop, **body: Any) -> Any:
    payload = {"campaignName": "Promo", "type": "quick broadcast", "templateContent": "Hello", "recipients": [UG, UG2]}
    payload.update(body)
    for name, value in body.items():
        if value is ...:  # `name=...`: leave the field out
            payload.pop(name)
    return shop.api.post(SMS, payload, format="json")


def refused(response: Any, status: int, code: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Herald's envelope (SPEC §4) plus Teekrr's top-level `message`, and `errors` on a 400 naming fields."""
    assert response.status_code == status, response.content
    body = response.json()
    error = body["error"]
    assert set(error) == {"type", "code", "message", "fields"}
    assert error["code"] == code, body
    assert body["message"] == error["message"]
    if fields is not None:
        assert error["fields"] == fields
    if status == 400 and error["fields"]:
        assert body["errors"] == [{"field": f, "message": m} for f, ms in error["fields"].items() for m in ms]
        assert set(body) == {"error", "message", "errors"}
    else:
        assert set(body) == {"error", "message"}
    return body


def nothing_sent(shop: Shop, balance: str = "100") -> None:
    assert not Broadcast.objects.filter(client=shop.client).exists()
    assert not Message.objects.exists()
    wallet = Wallet.objects.get(pk=shop.client.pk)
    assert (wallet.balance, wallet.reserved) == (Decimal(balance), Decimal(0))


def native(shop: Shop, broadcast_id: str) -> Any:
    return shop.api.get(f"/api/v1/broadcasts/{broadcast_id}/")


# --- the answer --------------------------------------------------------------------------------


def test_a_quick_broadcast_answers_teekrrs_data_with_money_as_strings(shop, daytime):
    response = sms(shop)
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    broadcast = Broadcast.objects.get(client=shop.client)
    assert response.json() == {
        "data": {
            "broadcastUuid": str(broadcast.pk),
            "campaignName": "Promo",
            "status": "enqueued",
            "totalRecipients": 2,
            "totalSegments": 2,
            "estimatedCost": "0.018800",
            "currency": "USD",
            "residualCredit": "99.981200",
            "scheduledAt": None,
            "skipped": {"invalid": 0, "optedOut": 0, "unroutable": 0, "duplicates": 0},
        }
    }
    assert (broadcast.channel, broadcast.schedule_mode, broadcast.status) == ("sms", "now", "queued")
    assert broadcast.estimated_cost == 2 * UG_SEGMENT
    assert shop.refresh().reserved == 2 * UG_SEGMENT
    assert sorted(Message.objects.values_list("text", flat=True)) == ["Hello", "Hello"]


def test_the_broadcast_is_the_same_in_the_native_api(shop, daytime):
    data = sms(shop, keyword="Herald").json()["data"]
    body = native(shop, data["broadcastUuid"]).json()
    assert body["id"] == data["broadcastUuid"]
    assert (body["name"], body["channel"], body["status"], body["schedule_mode"]) == ("Promo", "sms", "queued", "now")
    assert (body["total_recipients"], body["total_segments"]) == (data["totalRecipients"], data["totalSegments"])
    assert (body["estimated_cost"], body["currency"]) == (data["estimatedCost"], data["currency"])
    assert body["skipped"] == {"invalid": 0, "opted_out": 0, "unroutable": 0, "duplicates": 0}
    broadcast = Broadcast.objects.get()
    assert (broadcast.sender, broadcast.created_by_key) == ("Herald", shop.api.api_key)


def test_a_scheduled_broadcast_is_reserved_and_answers_scheduled(shop, daytime):
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    local = at.astimezone(timezone.get_fixed_timezone(8 * 60)).isoformat()  # Malaysia, Teekrr's home
    response = sms(shop, type="schedule broadcast", scheduledAt=local)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["status"] == "scheduled"
    assert datetime.fromisoformat(data["scheduledAt"].replace("Z", "+00:00")) == at
    broadcast = Broadcast.objects.get()
    assert (broadcast.schedule_mode, broadcast.status, broadcast.scheduled_at) == ("scheduled", "scheduled", at)
    assert shop.refresh().reserved == broadcast.estimated_cost
    assert native(shop, data["broadcastUuid"]).json()["scheduled_at"] == data["scheduledAt"]


def test_skipped_recipients_are_reported_never_dropped_silently(shop, daytime):
    ContactFactory(client=shop.client, phone=UG3, opted_out=True, opted_out_at=timezone.now())
    response = sms(shop, recipients=[UG, UG, "hello", DE, UG3, UG2])
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["totalRecipients"] == 2
    assert data["skipped"] == {"invalid": 1, "optedOut": 1, "unroutable": 1, "duplicates": 1}


def test_a_json_null_is_an_absent_field(shop, daytime):
    response = sms(shop, templateName=None, scheduledAt=None, keyword=None, recipientVariables=None)
    assert response.status_code == 201, response.content
    assert Broadcast.objects.get().sender == ""


def test_a_trailing_slash_is_the_same_endpoint(shop, daytime):
    response = shop.api.post(SMS + "/", ONE, format="json")
    assert response.status_code == 201, response.content


# --- field by field ----------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["phone", "phoneNumber", "to"])
def test_recipient_variables_take_any_of_teekrrs_address_keys(shop, daytime, address):
    response = sms(
        shop,
        recipients=...,
        templateContent="Hi {name}, code {code}",
        recipientVariables=[{address: UG, "name": "Aisyah", "code": "A1"}, {address: UG2, "name": "Wei", "code": 7}],
    )
    assert response.status_code == 201, response.content
    broadcast = Broadcast.objects.get()
    assert broadcast.audience["recipients"] == [
        {"address": UG, "variables": {"name": "Aisyah", "code": "A1"}},
        {"address": UG2, "variables": {"name": "Wei", "code": "7"}},
    ]
    assert sorted(Message.objects.values_list("text", flat=True)) == ["Hi Aisyah, code A1", "Hi Wei, code 7"]


def test_a_template_name_uses_the_clients_approved_template(shop, daytime):
    TemplateFactory(client=shop.client, name="otp", content="Your code is {{code}}.")
    response = sms(shop, templateContent=..., templateName="otp", recipients=..., recipientVariables=[
        {"phoneNumber": UG, "code": "1234"}
    ])  # fmt: skip
    assert response.status_code == 201, response.content
    broadcast = Broadcast.objects.get()
    assert (broadcast.template_name, broadcast.text) == ("otp", None)
    assert list(Message.objects.values_list("text", flat=True)) == ["Your code is 1234."]


def test_the_keyword_is_the_registered_sender(shop, daytime):
    SenderFactory(client=shop.client, sender="SHOP68100")
    assert sms(shop, keyword="SHOP68100").status_code == 201
    assert Broadcast.objects.get().sender == "SHOP68100"


def test_the_native_translation_is_a_rename():
    body = {
        "campaignName": "C",
        "type": "schedule broadcast",
        "templateName": "otp",
        "scheduledAt": "2026-12-01T09:00:00+08:00",
        "keyword": "Herald",
        "recipientVariables": [{"to": UG, "name": "A", "phone_number": "x"}],
    }
    assert native_request(body) == {
        "name": "C",
        "channel": "sms",
        "schedule_mode": "scheduled",
        "template": "otp",
        "scheduled_at": "2026-12-01T09:00:00+08:00",
        "sender": "Herald",
        "recipient_variables": [{"phone": UG, "name": "A", "phone_number": "x"}],
    }


@pytest.mark.parametrize(
    ("native_field", "field", "text_field"),
    [
        ("name", "campaignName", "templateContent"),
        ("text", "templateContent", "templateContent"),
        ("text", "templateName", "templateName"),
        ("template", "templateName", "templateContent"),
        ("scheduled_at", "scheduledAt", "templateContent"),
        ("schedule_mode", "type", "templateContent"),
        ("sender", "keyword", "templateContent"),
        ("recipients.3", "recipients.3", "templateContent"),
        ("recipient_variables.2.first_name", "recipientVariables.2.first_name", "templateContent"),
        ("Idempotency-Key", "Idempotency-Key", "templateContent"),
    ],
)
def test_native_field_names_are_teekrrs_in_errors(native_field, field, text_field):
    assert teekrr_field(native_field, text_field=text_field) == field


def test_native_messages_are_reworded_with_teekrrs_names():
    assert teekrr_message("scheduled_at must be at least 10 minutes ahead.", field="scheduled_at", code="too_soon") == (
        "scheduledAt must be at least 10 minutes ahead."
    )
    assert teekrr_message("x", field="template", code="template_or_text") == (
        "Give exactly one of templateName or templateContent."
    )
    assert teekrr_message("Must be a string.", field="name", code="invalid") == "Must be a string."


# --- every rule and its error ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"campaignName": ...}, "required", {"campaignName": ["This field is required."]}),
        ({"campaignName": "   "}, "blank", {"campaignName": ["This field may not be blank."]}),
        ({"campaignName": 12}, "invalid", {"campaignName": ["Must be a string."]}),
        (
            {"campaignName": "x" * 256},
            "max_length",
            {"campaignName": ["Ensure this field has no more than 255 characters."]},
        ),
        ({"type": ...}, "required", {"type": ["This field is required: 'quick broadcast' or 'schedule broadcast'."]}),
        (
            {"type": "Quick Broadcast"},
            "invalid_choice",
            {"type": ["'Quick Broadcast' is not one of: quick broadcast, schedule broadcast."]},
        ),
        ({"type": "now"}, "invalid_choice", {"type": ["'now' is not one of: quick broadcast, schedule broadcast."]}),
        (
            {"templateContent": ..., "templateName": ...},
            "template_or_text",
            {"templateName": ["Give exactly one of templateName or templateContent."]},
        ),
        (
            {"templateName": "otp"},
            "template_or_text",
            {"templateName": ["Give exactly one of templateName or templateContent."]},
        ),
        ({"templateContent": ""}, "template_or_text", None),
        ({"templateContent": {"eng": "Hi"}}, "invalid", {"templateContent": ["Must be a string."]}),
        ({"templateContent": "   "}, "blank", {"templateContent": ["The text may not be blank."]}),
        (
            {"templateContent": "x" * 1225},
            "text_too_long",
            {"templateContent": ["The text is 1225 characters; SMS allows 1224."]},
        ),
        (
            {"templateContent": ..., "templateName": "x" * 513},
            "invalid",
            {"templateName": ["A template name is 1–512 characters."]},
        ),
        (
            {"templateContent": ..., "templateName": "nope"},
            "template_not_found",
            {"templateName": ["There is no SMS template named 'nope'."]},
        ),
        (
            {"type": "schedule broadcast"},
            "required",
            {"scheduledAt": ["A 'schedule broadcast' needs scheduledAt."]},
        ),
        (
            {"type": "schedule broadcast", "scheduledAt": "next tuesday"},
            "invalid_datetime",
            {"scheduledAt": ["Use an ISO 8601 date and time, e.g. 2026-12-01T09:00:00Z."]},
        ),
        (
            {"scheduledAt": "2026-12-01T09:00:00Z"},
            "unexpected",
            {"scheduledAt": ["scheduledAt is only for type 'schedule broadcast'."]},
        ),
        (
            {"keyword": "No Spaces!"},
            "invalid_sender",
            {"keyword": ["'No Spaces!' is not a sender ID: use 3–11 letters and digits, or an E.164 number."]},
        ),
        (
            {"keyword": "AB"},
            "invalid_sender",
            {"keyword": ["'AB' is not a sender ID: use 3–11 letters and digits, or an E.164 number."]},
        ),
        (
            {"keyword": "Unregistrd"},
            "sender_not_registered",
            {"keyword": ["'Unregistrd' is not a sender registered for sms on this account."]},
        ),
        (
            {"recipients": ...},
            "no_recipients",
            {"recipients": ["Give at least one recipient: recipients or recipientVariables."]},
        ),
        (
            {"recipients": []},
            "no_recipients",
            {"recipients": ["Give at least one recipient: recipients or recipientVariables."]},
        ),
        ({"recipients": UG}, "not_a_list", {"recipients": ["Must be a list of phone numbers or URNs."]}),
        ({"recipients": [UG] * 10_001}, "too_many", {"recipients": ["At most 10,000 recipients per request."]}),
        (
            {"recipients": ..., "recipientVariables": [{"to": UG}] * 10_001},
            "too_many",
            {"recipientVariables": ["At most 10,000 recipients per request."]},
        ),
        (
            {"recipients": [UG, 256772000002]},
            "invalid",
            {"recipients.1": ["Each recipient must be a phone number or URN string."]},
        ),
        (
            {"recipientVariables": [{"phone": UG}]},
            "exclusive",
            {"recipientVariables": ["Give recipients or recipientVariables, not both."]},
        ),
        (
            {"recipients": ..., "recipientVariables": {"phone": UG}},
            "not_a_list",
            {"recipientVariables": ["Must be a list of objects."]},
        ),
        (
            {"recipients": ..., "recipientVariables": [{"phone": UG}, UG2]},
            "invalid",
            {"recipientVariables.1": ["Each item must be an object with phone, phoneNumber or to."]},
        ),
        (
            {"recipients": ..., "recipientVariables": [{"name": "A"}]},
            "required",
            {"recipientVariables.0": ["Each item needs a phone, phoneNumber or to."]},
        ),
        (
            {"recipients": ..., "recipientVariables": [{"phone": UG, "to": UG2}]},
            "ambiguous_address",
            {"recipientVariables.0": ["Give one of phone, phoneNumber or to, not phone and to."]},
        ),
        (
            {"recipients": ..., "recipientVariables": [{"phoneNumber": 256772000001}]},
            "invalid",
            {"recipientVariables.0.phoneNumber": ["The phone number must be a string, e.g. '+256772000001'."]},
        ),
        (
            {"recipients": ..., "recipientVariables": [{"phone": UG, "urn": "x"}]},
            "reserved",
            {"recipientVariables.0.urn": ["'urn' cannot be a variable name; rename it."]},
        ),
        (
            {"recipients": ..., "recipientVariables": [{"phone": UG, "name": {"first": "A"}}]},
            "invalid",
            {"recipientVariables.0.name": ["Variable values must be strings or numbers."]},
        ),
        (
            {"recipients": ["hello", DE]},
            "no_valid_recipients",
            {
                "recipients": [
                    "None of the recipients can be sent to (all invalid, opted out, duplicates or unroutable)."
                ]
            },
        ),
        ({"channel": "whatsapp"}, "unknown_field", {"channel": ["Unknown field 'channel'."]}),
        ({"sender": "Herald"}, "unknown_field", {"sender": ["Unknown field 'sender'."]}),
    ],
)
def test_bad_input_is_a_400_naming_teekrrs_field_and_changes_nothing(shop, daytime, body, code, fields):
    response = sms(shop, **body)
    body = refused(response, 400, code, fields)
    assert body["error"]["type"] == "invalid_request_error"
    nothing_sent(shop)


def test_every_problem_is_reported_at_once(shop):
    response = sms(shop, campaignName=..., type="later", sender="x")
    body = refused(response, 400, "unknown_field")
    assert set(body["error"]["fields"]) == {"sender", "type"}  # Teekrr's own reading comes first
    response = sms(shop, campaignName=..., templateContent=..., recipients=...)
    body = refused(response, 400, "required")
    assert set(body["error"]["fields"]) == {"campaignName", "templateName", "recipients"}
    assert body["error"]["message"] == "campaignName: This field is required. (and 2 more errors; see fields)"


@pytest.mark.parametrize(("minutes", "code"), [(5, "too_soon"), (-5, "too_soon"), (91 * 24 * 60, "too_far")])
def test_the_schedule_window_is_the_native_one(shop, daytime, minutes, code):
    at = (timezone.now() + timedelta(minutes=minutes)).isoformat()
    body = refused(sms(shop, type="schedule broadcast", scheduledAt=at), 400, code)
    [message] = body["error"]["fields"]["scheduledAt"]
    assert message.startswith("scheduledAt must be at ")
    assert body["error"]["message"] == f"scheduledAt: {message}"
    nothing_sent(shop)


def test_stop_missing_for_french_marketing_names_the_content_field_used(shop, daytime):
    body = refused(sms(shop, recipients=[FR], templateContent="Promo -20% today"), 400, "stop_mention_missing")
    assert list(body["error"]["fields"]) == ["templateContent"]
    TemplateFactory(client=shop.client, name="promo", content="Promo -20% today")
    body = refused(sms(shop, recipients=[FR], templateContent=..., templateName="promo"), 400, "stop_mention_missing")
    assert list(body["error"]["fields"]) == ["templateName"]
    nothing_sent(shop)
    assert sms(shop, recipients=[FR], templateContent="Promo -20% STOP au 36180").status_code == 201


def test_too_little_credit_is_a_402_and_nothing_is_created(make_shop, daytime):
    shop = make_shop(balance="0.01")
    body = refused(sms(shop, recipients=[UG, UG2, KE]), 402, "insufficient_credit", {})
    assert body["error"]["type"] == "insufficient_credit"
    assert body["message"].startswith("This broadcast needs ")
    nothing_sent(shop, balance="0.01")


def test_a_client_without_a_wallet_cannot_send(make_api):
    api = make_api()
    response = api.post(SMS, ONE, format="json")
    refused(response, 409, "no_wallet")


def test_malformed_requests_answer_the_same_shape(shop):
    api = shop.api
    assert refused(api.post(SMS, [1, 2], format="json"), 400, "invalid")["message"] == "The body must be a JSON object."
    refused(api.post(SMS, "{not json", content_type="application/json"), 400, "parse_error")
    refused(api.post(SMS, {"campaignName": "x"}), 415, "unsupported_media_type")  # multipart: Teekrr sends JSON
    refused(api.get(SMS), 405, "method_not_allowed")
    refused(api.post("/teekrr/whatsapp", {}, format="json"), 404, "not_found")
    refused(api.post(SMS, {"campaignName": "x\u0000"}, format="json"), 400, "nul_character")
    nothing_sent(shop)


def test_an_unknown_path_is_a_404_in_the_same_shape_without_a_key(client):
    response = client.post("/teekrr/email", {}, content_type="application/json")
    body = refused(response, 404, "not_found")
    assert body["message"] == "No endpoint at /teekrr/email; Herald's Teekrr API has POST /sms."


# --- auth, scopes, tenancy ---------------------------------------------------------------------


def test_no_key_is_a_401_with_a_bearer_challenge(shop):
    shop.api.credentials()
    response = sms(shop)
    refused(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    nothing_sent(shop)


@pytest.mark.parametrize(
    ("case", "code"),
    [("unknown key", "invalid_api_key"), ("revoked", "api_key_revoked"), ("token scheme", "not_authenticated")],
)
def test_a_bad_key_is_a_401(shop, case, code):
    raw = shop.api.raw_key
    if case == "unknown key":
        shop.api.credentials(HTTP_AUTHORIZATION="Bearer hk_nope_nope")
    elif case == "revoked":
        api_key_revoke(api_key=shop.api.api_key)
    else:
        shop.api.credentials(HTTP_AUTHORIZATION=f"Token {raw}")  # RapidPro's scheme is not Teekrr's
    body = refused(sms(shop), 401, code)
    assert body["error"]["type"] == "authentication_error"
    nothing_sent(shop)


def test_a_dashboard_session_is_not_a_teekrr_credential(make_session_api, shop):
    api = make_session_api(role=Membership.Role.OWNER, client=shop.client)
    response = api.post(SMS, ONE, format="json")
    refused(response, 401, "not_authenticated")


def test_sending_needs_the_send_sms_scope(make_shop, daytime):
    shop = make_shop(scopes=[Scope.READ, Scope.SEND_WHATSAPP])
    body = refused(sms(shop), 403, "missing_scope")
    assert body["message"] == "This request needs the 'send_sms' scope."
    nothing_sent(shop)
    assert sms(make_shop(scopes=[Scope.SEND_SMS])).status_code == 201


def test_a_suspended_client_is_refused(shop):
    shop.client.status = "suspended"
    shop.client.save()
    refused(sms(shop), 403, "client_suspended")
    nothing_sent(shop)


def test_the_keys_ip_allowlist_applies(shop, daytime):
    shop.api.api_key.allowed_ips = ["10.1.2.0/24"]
    shop.api.api_key.save()
    refused(sms(shop), 403, "ip_not_allowed")
    nothing_sent(shop)
    assert shop.api.post(SMS, ONE, format="json", REMOTE_ADDR="10.1.2.3").status_code == 201


def test_another_clients_sender_and_template_are_unknown_here(make_shop, daytime):
    mine, theirs = make_shop(), make_shop()
    SenderFactory(client=theirs.client, sender="Theirs")
    TemplateFactory(client=theirs.client, name="their_otp", content="Code {{code}}")
    refused(sms(mine, keyword="Theirs"), 400, "sender_not_registered")
    refused(sms(mine, templateContent=..., templateName="their_otp"), 400, "template_not_found")
    nothing_sent(mine)


def test_a_broadcast_belongs_to_the_keys_client_only(make_shop, daytime):
    mine, theirs = make_shop(), make_shop()
    data = sms(mine).json()["data"]
    assert Broadcast.objects.get().client == mine.client
    assert native(theirs, data["broadcastUuid"]).status_code == 404
    assert native(mine, data["broadcastUuid"]).status_code == 200
    assert Wallet.objects.get(pk=theirs.client.pk).reserved == 0


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_an_idempotency_key_replays_the_first_answer(shop, daytime):
    body = {"campaignName": "Once", "type": "quick broadcast", "templateContent": "Hi", "recipients": [UG]}
    first = shop.api.post(SMS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = shop.api.post(SMS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Broadcast.objects.count() == 1
    assert Message.objects.count() == 1
    other = shop.api.post(SMS, {**body, "campaignName": "Twice"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert refused(other, 409, "idempotency_key_reused")["error"]["type"] == "idempotency_error"
    assert Broadcast.objects.count() == 1


def test_a_refusal_is_replayed_too_and_a_bad_key_is_named(shop, daytime):
    body = {"campaignName": "x", "type": "soon", "templateContent": "Hi", "recipients": [UG]}
    first = shop.api.post(SMS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    again = shop.api.post(SMS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    refused(again, 400, "invalid_choice")
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    response = shop.api.post(SMS, body, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256)
    message = "The Idempotency-Key header must be 1–255 printable characters."
    refused(response, 400, "invalid", {"Idempotency-Key": [message]})


def test_without_an_idempotency_key_nothing_is_deduped(shop, daytime):
    assert sms(shop).status_code == 201
    assert sms(shop).status_code == 201  # as Teekrr: identical bodies are two broadcasts
    assert Broadcast.objects.count() == 2


# --- rate limits -------------------------------------------------------------------------------


def test_creates_count_against_compat_send_and_a_429_has_an_integer_retry_after(shop, daytime, redis_url, settings):
    settings.SEND_RATE_LIMIT = "1/h"  # the native limit is not the one that applies here
    settings.COMPAT_SEND_RATE_LIMIT = "2/h"
    assert sms(shop).status_code == 201
    refused(sms(shop, type="now"), 400, "invalid_choice")  # a refusal is given back: nothing was sent
    assert sms(shop).status_code == 201
    response = sms(shop)
    body = refused(response, 429, "throttled")
    assert body["error"]["type"] == "rate_limit_error"
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert Broadcast.objects.count() == 2


def test_the_compat_limit_is_overridable_per_client(shop, daytime, redis_url, settings):
    settings.COMPAT_SEND_RATE_LIMIT = "1/h"
    shop.client.compat_send_rate_limit = "3/h"
    shop.client.save()
    assert [sms(shop).status_code for _ in range(4)] == [201, 201, 201, 429]


# --- what stays Herald's -----------------------------------------------------------------------


def test_teekrr_paths_are_left_out_of_the_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [p for p in schema["paths"] if "teekrr" in p]


def test_a_teekrr_webhook_endpoint_gets_teekrrs_event_names():
    at = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    data = json.dumps({"message_id": 1, "status": "delivered"})
    for herald, teekrr in [(events.MESSAGE_DELIVERED, "delivered"), (events.MESSAGE_FAILED, "failed")]:
        body = render(format=TEEKRR, event_id="evt_1", type=herald, created_at=at, data=data)
        assert body is not None
        assert json.loads(body) == {
            "id": "evt_1",
            "type": teekrr,
            "created_at": "2026-11-24T15:00:00Z",
            "data": {"message_id": 1, "status": "delivered"},
        }
    body = render(format=TEEKRR, event_id="evt_2", type=events.MESSAGE_SENT, created_at=at, data=data)
    assert body is not None
    assert json.loads(body)["type"] == "message.sent"
