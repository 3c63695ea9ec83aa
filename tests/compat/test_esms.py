# ruff: noqa: F811 - the shop fixtures are imported from the broadcasts suite, then used by name
"""SPEC §14, eSMS Africa (seed 003, COMPAT.md §4): `POST /api/messages/bulk-precheck` and
`POST /api/messages/send-bulk` — a Herald key as Bearer, list ids as integers (a list's `number`)
or UUIDs, FastAPI's error shapes, money as exact JSON numbers — over the native precheck and create."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Scope
from accounts.services import api_key_revoke
from broadcasts.models import Broadcast, Message
from contacts.models import Contact, ContactList
from contacts.services import contact_list_create, contact_opt_out
from tests.broadcasts.conftest import (  # noqa: F401 - fixtures
    FR,
    UG,
    Shop,
    _ledger_replays,
    daytime,
    make_shop,
    shop,
)
from tests.factories.accounts import ClientFactory
from tests.factories.contacts import add_members
from wallets.models import PriceOverride, Route, Wallet

pytestmark = pytest.mark.django_db

PRECHECK = "/api/messages/bulk-precheck"
SEND = "/api/messages/send-bulk"
SEED_TEXT = "Hi {{name}}, your message here."
DE = ("+4915112345678", "+4915112345679")  # valid numbers, no route in the shop


def exact(response: Any) -> Any:
    """The body with its numbers as Decimals: what was written, digit for digit."""
    return json.loads(response.content, parse_float=Decimal)


def make_list(shop: Shop, name: str, phones: list[str], long_names: int = 0) -> ContactList:
    """A list of new contacts; the first `long_names` have a 141-character name (two SMS parts)."""
    contact_list = contact_list_create(client=shop.client, name=name)
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                client=shop.client,
                phone=phone,
                first_name="A" * 100 if i < long_names else f"First{i}",
                last_name="B" * 40 if i < long_names else "Contact",
            )
            for i, phone in enumerate(phones)
        ]
    )
    add_members(contact_list, *contacts)
    return contact_list


def ug(n: int, start: int = 0) -> list[str]:
    return [f"+25677{start + i:07d}" for i in range(n)]


def ke(n: int) -> list[str]:
    return [f"+254712{i:06d}" for i in range(n)]


def post(shop: Shop, path: str, body: Any, **extra: Any) -> Any:
    return shop.api.post(path, body, format="json", **extra)


def assert_detail(response: Any, status: int, code: str, message: str | None = None) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail"}, body
    assert set(body["detail"]) == {"code", "message"}, body
    assert body["detail"]["code"] == code, body
    assert body["detail"]["message"], body
    if message is not None:
        assert body["detail"]["message"] == message
    result: str = body["detail"]["message"]
    return result


def assert_invalid(response: Any, *items: tuple[list[Any], str]) -> list[dict[str, Any]]:
    """422 with FastAPI's list: each (loc after "body", type) in order; every msg non-empty."""
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"detail"}, body
    detail: list[dict[str, Any]] = body["detail"]
    assert [(d["loc"], d["type"]) for d in detail] == [(["body", *loc], kind) for loc, kind in items], detail
    assert all(set(d) == {"loc", "msg", "type"} and d["msg"] for d in detail)
    return detail


def nothing_sent(shop: Shop, balance: str = "100") -> None:
    assert not Broadcast.objects.filter(client=shop.client).exists()
    assert not Message.objects.exists()
    wallet = Wallet.objects.get(pk=shop.client.pk)
    assert (wallet.balance, wallet.reserved) == (Decimal(balance), Decimal(0))


@pytest.fixture
def lists(shop: Shop) -> tuple[ContactList, ContactList]:
    """Lists 1 (two Ugandan contacts) and 2 (one more, and a German number with no route)."""
    return make_list(shop, "One", ug(2)), make_list(shop, "Two", [*ug(1, start=10), DE[0]])


# --- the seed's own worked example --------------------------------------------------------------


def test_the_seeds_documented_precheck_and_send_come_out_figure_for_figure(make_shop, daytime):
    """Seed 003: lists [1, 2], "Hi {{name}}, your message here.", 250 contacts in 2 countries, 350
    segments; Uganda 150 contacts, 200 segments at 35 UGX = 7000 UGX = 1.88 USD (1 UGX = 0.000268571
    USD, a 9400-millionth of a dollar per segment); the wallet holds 5000 USD; 2 unroutable numbers."""
    shop = make_shop(balance="5000")
    kenya = Route.objects.get(route_code="SIM_KE")
    PriceOverride.objects.create(client=shop.client, route=kenya, price_per_segment=Decimal(0))  # the second country
    one = make_list(shop, "Uganda", ug(150), long_names=50)  # 100 × 1 + 50 × 2 = 200 segments
    two = make_list(shop, "Kenya", [*ke(100), *DE], long_names=50)  # 50 × 1 + 50 × 2 = 150 segments
    assert (one.number, two.number) == (1, 2)
    body = {"contact_list_ids": [1, 2], "text": SEED_TEXT, "sender_id": "Herald"}

    response = post(shop, PRECHECK, body)
    assert response.status_code == 200, response.content
    report = exact(response)
    uganda = next(line for line in report["breakdown"] if line["country_code"] == "UG")
    assert uganda == {
        "country_code": "UG",
        "country_name": "Uganda",
        "currency": "UGX",
        "route_code": "ESMS_UG",
        "contacts": 150,
        "segments": 200,
        "route_cost": 7000,
        "wallet_cost": Decimal("1.88"),
        "price_per_segment": 35,
    }
    seed = {
        "total_contacts": 250,
        "total_segments": 350,
        "total_cost": Decimal("1.88"),
        "wallet_currency": "USD",
        "wallet_balance": 5000,
        "balance_after": Decimal("4998.12"),
        "sufficient_balance": True,
        "countries": 2,
        "unroutable_count": 2,
    }
    assert {key: report[key] for key in seed} == seed
    assert sorted(report["unroutable"]) == list(DE)
    text = response.content.decode()
    for written in ('"total_cost":1.88,', '"wallet_balance":5000,', '"balance_after":4998.12,', '"route_cost":7000,'):
        assert written in text
    assert response["Content-Type"] == "application/json"
    assert not Broadcast.objects.exists()  # a precheck creates nothing

    sent = post(shop, SEND, {**body, "route": None, "schedule_mode": "now", "scheduled_at": None, "drip_rate": None})
    assert sent.status_code == 200, sent.content
    answer = exact(sent)
    broadcast = Broadcast.objects.get(client=shop.client)
    assert answer == {
        "batch_id": f"batch-{broadcast.pk}",
        "total_recipients": 250,
        "estimated_cost": Decimal("1.88"),
        "status": "sending",
    }
    assert '"estimated_cost":1.88,' in sent.content.decode()
    assert shop.refresh().reserved == Decimal("1.88")


# --- the same broadcast in the native API -------------------------------------------------------


def test_a_send_bulk_is_the_same_broadcast_in_the_native_api(shop, lists, daytime):
    sent = post(shop, SEND, {"contact_list_ids": [1, str(lists[1].pk)], "text": "Hello {{first_name}}"})
    assert sent.status_code == 200, sent.content
    batch = sent.json()["batch_id"]
    broadcast_id = batch.removeprefix("batch-")
    native = shop.api.get(f"/api/v1/broadcasts/{broadcast_id}/").json()
    assert native["id"] == broadcast_id
    assert native["name"] == "Bulk send: Hello {{first_name}}"
    assert native["channel"] == "sms"
    assert native["status"] == "queued"
    assert native["total_recipients"] == 3 == sent.json()["total_recipients"]
    assert Decimal(native["estimated_cost"]) == exact(sent)["estimated_cost"] == Decimal("0.0282")
    assert native["skipped"]["unroutable"] == 1
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    assert broadcast.audience["contact_lists"] == [str(lists[0].pk), str(lists[1].pk)]
    assert broadcast.created_by_key == shop.api.api_key


def test_message_logs_filter_by_batch_id(shop, lists, daytime):
    batch = post(shop, SEND, {"contact_list_ids": [1], "text": "Hello"}).json()["batch_id"]
    post(shop, SEND, {"contact_list_ids": [2], "text": "Other"})
    broadcast_id = batch.removeprefix("batch-")
    by_batch = shop.api.get("/api/v1/messages/", {"batch_id": batch})
    assert by_batch.status_code == 200, by_batch.content
    ids = {m["id"] for m in by_batch.json()["results"]}
    assert ids == set(Message.objects.filter(broadcast_id=broadcast_id).values_list("id", flat=True))
    assert len(ids) == 2
    assert {m["broadcast"] for m in by_batch.json()["results"]} == {broadcast_id}
    assert shop.api.get("/api/v1/messages/", {"batch_id": broadcast_id}).json() == by_batch.json()
    assert shop.api.get("/api/v1/messages/", {"batch_id": batch.upper()}).json() == by_batch.json()
    bad = shop.api.get("/api/v1/messages/", {"batch_id": "batch-nope"})
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["batch_id"]


def test_another_clients_batch_id_lists_nothing(shop, make_shop, lists, daytime):
    batch = post(shop, SEND, {"contact_list_ids": [1], "text": "Hello"}).json()["batch_id"]
    other = make_shop()
    assert other.api.get("/api/v1/messages/", {"batch_id": batch}).json()["results"] == []


# --- list ids -------------------------------------------------------------------------------------


def test_list_ids_are_numbers_digit_strings_or_uuids_each_counted_once(shop, lists, daytime):
    one, _two = lists
    body = {"contact_list_ids": [" 1 ", 2, str(one.pk).upper(), 1], "text": "Hello"}
    report = post(shop, PRECHECK, body).json()
    assert (report["total_contacts"], report["unroutable_count"]) == (3, 1)


@pytest.mark.parametrize("path", [PRECHECK, SEND])
def test_an_unknown_list_is_invalid_list_and_nothing_happens(shop, lists, path):
    assert_detail(
        post(shop, path, {"contact_list_ids": [1, 99], "text": "Hello"}), 400, "invalid_list",
        "Unknown contact list id: 99.",
    )  # fmt: skip
    nothing_sent(shop)


@pytest.mark.parametrize("path", [PRECHECK, SEND])
def test_another_clients_list_number_or_id_is_unknown(shop, make_shop, path):
    other = make_shop()
    theirs = make_list(other, "Theirs", ug(1, start=50))  # their number 1
    make_list(other, "Theirs too", ug(1, start=60))  # their number 2
    make_list(shop, "Mine", ug(1))  # my number 1
    for ids in ([2], [str(theirs.pk)]):
        message = assert_detail(post(shop, path, {"contact_list_ids": ids, "text": "Hi"}), 400, "invalid_list")
        assert str(ids[0]) in message
    nothing_sent(shop)
    assert not Broadcast.objects.exists()


@pytest.mark.parametrize(
    ("ids", "loc", "kind"),
    [
        ("1,2", ["contact_list_ids"], "type_error.list"),
        ({"id": 1}, ["contact_list_ids"], "type_error.list"),
        ([1, "abc"], ["contact_list_ids", 1], "type_error.integer"),
        ([1.5], ["contact_list_ids", 0], "type_error.integer"),
        ([True], ["contact_list_ids", 0], "type_error.integer"),
        ([None], ["contact_list_ids", 0], "type_error.integer"),
        ([], ["contact_list_ids"], "value_error.no_recipients"),
    ],
)
def test_malformed_list_ids_are_fastapi_validation_errors(shop, lists, ids, loc, kind):
    for path in (PRECHECK, SEND):
        assert_invalid(post(shop, path, {"contact_list_ids": ids, "text": "Hello"}), (loc, kind))
    nothing_sent(shop)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PRECHECK, SEND])
def test_required_fields_are_reported_as_fastapi_does(shop, path):
    detail = assert_invalid(
        post(shop, path, {"sender_id": "Herald"}),
        (["contact_list_ids"], "value_error.missing"),
        (["text"], "value_error.missing"),
    )
    assert detail[0] == {"loc": ["body", "contact_list_ids"], "msg": "field required", "type": "value_error.missing"}
    assert_invalid(
        post(shop, path, {"contact_list_ids": None, "text": 5}),
        (["contact_list_ids"], "value_error.missing"),
        (["text"], "type_error.str"),
    )
    nothing_sent(shop)


@pytest.mark.parametrize("path", [PRECHECK, SEND])
def test_a_body_that_is_not_a_json_object(shop, path):
    assert_invalid(shop.api.post(path, "[1, 2]", content_type="application/json"), ([], "type_error.dict"))
    assert_invalid(shop.api.post(path, "{not json", content_type="application/json"), ([], "value_error.jsondecode"))
    missing = "value_error.missing"
    assert_invalid(shop.api.post(path), (["contact_list_ids"], missing), (["text"], missing))  # no body at all
    nothing_sent(shop)


def test_a_json_body_is_read_whatever_its_content_type(shop, lists):
    body = json.dumps({"contact_list_ids": [1], "text": "Hello"})
    response = shop.api.post(PRECHECK, body, content_type="text/plain")
    assert response.status_code == 200, response.content
    assert response.json()["total_contacts"] == 2


def test_unknown_fields_are_ignored_as_fastapi_ignores_them(shop, lists, daytime):
    response = post(shop, SEND, {"contact_list_ids": [1], "text": "Hello", "priority": "high", "channel": "whatsapp"})
    assert response.status_code == 200, response.content
    assert Broadcast.objects.get().channel == "sms"


def test_blank_text_is_a_validation_error(shop, lists):
    assert_invalid(post(shop, SEND, {"contact_list_ids": [1], "text": "  "}), (["text"], "value_error.blank"))
    nothing_sent(shop)


def test_text_too_long_is_eSMSs_own_code(shop, lists):  # noqa: N802
    assert_detail(post(shop, SEND, {"contact_list_ids": [1], "text": "x" * 1225}), 400, "text_too_long")
    assert_detail(post(shop, PRECHECK, {"contact_list_ids": [1], "text": "x" * 1225}), 400, "text_too_long")
    nothing_sent(shop)


def test_an_unregistered_sender_is_sender_id_not_approved(shop, lists):
    for path in (PRECHECK, SEND):
        body = {"contact_list_ids": [1], "text": "Hello", "sender_id": "Nobody"}
        message = assert_detail(post(shop, path, body), 403, "sender_id_not_approved")
        assert "Nobody" in message
    nothing_sent(shop)


def test_the_registered_sender_and_a_forced_route_are_used(shop, lists, daytime):
    body = {"contact_list_ids": [1], "text": "Hello", "sender_id": "Herald", "route": "ESMS_UG"}
    assert post(shop, SEND, body).status_code == 200
    broadcast = Broadcast.objects.get()
    assert (broadcast.sender, broadcast.route_code) == ("Herald", "ESMS_UG")
    assert_invalid(post(shop, SEND, {**body, "route": "NOPE"}), (["route"], "value_error.unknown_route"))


def test_marketing_to_france_without_stop_is_refused(shop, daytime):
    make_list(shop, "France", [FR])
    assert_detail(post(shop, SEND, {"contact_list_ids": [1], "text": "Promo"}), 400, "stop_mention_missing")
    assert post(shop, SEND, {"contact_list_ids": [1], "text": "Promo. STOP au 36180"}).status_code == 200


def test_lists_with_only_unroutable_numbers_are_no_route(shop):
    make_list(shop, "Germany", list(DE))
    assert_detail(post(shop, SEND, {"contact_list_ids": [1], "text": "Hi"}), 400, "no_route")
    report = post(shop, PRECHECK, {"contact_list_ids": [1], "text": "Hi"}).json()
    assert (report["total_contacts"], report["unroutable_count"]) == (0, 2)
    nothing_sent(shop)


def test_lists_with_nobody_to_send_to_are_no_valid_recipients(shop):
    contact_list = make_list(shop, "Gone", ug(1))
    contact_opt_out(contact=contact_list.contacts.get())
    assert_detail(post(shop, SEND, {"contact_list_ids": [1], "text": "Hi"}), 400, "no_valid_recipients")
    empty = contact_list_create(client=shop.client, name="Empty")
    assert_detail(post(shop, SEND, {"contact_list_ids": [empty.number], "text": "Hi"}), 400, "no_valid_recipients")
    nothing_sent(shop)


# --- money ----------------------------------------------------------------------------------------


def test_insufficient_balance_is_422_with_esms_words_and_nothing_is_created(make_shop, daytime):
    shop = make_shop(balance="0.01")
    make_list(shop, "One", ug(2))
    assert_detail(
        post(shop, SEND, {"contact_list_ids": [1], "text": "Hello"}),
        422,
        "insufficient_balance",
        "Insufficient balance. Required: 0.0188 USD, available: 0.01 USD",
    )
    nothing_sent(shop, balance="0.01")
    report = exact(post(shop, PRECHECK, {"contact_list_ids": [1], "text": "Hello"}))
    assert (report["sufficient_balance"], report["total_cost"], report["balance_after"]) == (
        False,
        Decimal("0.0188"),
        Decimal("-0.0088"),
    )


def test_precheck_money_is_written_as_exact_numbers(shop, lists):
    response = post(shop, PRECHECK, {"contact_list_ids": [1, 2], "text": "Hello"})
    report = exact(response)
    assert (report["total_cost"], report["wallet_balance"], report["balance_after"]) == (
        Decimal("0.0282"),
        100,
        Decimal("99.9718"),
    )
    line = report["breakdown"][0]
    assert (line["route_cost"], line["wallet_cost"], line["price_per_segment"]) == (105, Decimal("0.0282"), 35)
    text = response.content.decode()
    assert '"total_cost":0.0282,' in text
    assert '"wallet_cost":0.0282,' in text
    assert "e-" not in text.lower()
    # Herald's own precheck fields follow the seed's subset.
    assert {"invalid_count", "opted_out_count", "encoding", "warnings"} <= set(report)


# --- scheduling -----------------------------------------------------------------------------------


def test_scheduled_and_drip_sends_answer_their_status(shop, lists, daytime):
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    body = {"contact_list_ids": [1], "text": "Hi", "schedule_mode": "scheduled", "scheduled_at": at.isoformat()}
    scheduled = post(shop, SEND, body)
    assert scheduled.json()["status"] == "scheduled"
    dripping = post(shop, SEND, {"contact_list_ids": [1], "text": "Hi", "schedule_mode": "drip", "drip_rate": 60})
    assert dripping.json()["status"] == "dripping"
    first = Broadcast.objects.get(pk=scheduled.json()["batch_id"].removeprefix("batch-"))
    assert (first.status, first.schedule_mode, first.scheduled_at) == ("scheduled", "scheduled", at)
    second = Broadcast.objects.get(pk=dripping.json()["batch_id"].removeprefix("batch-"))
    assert (second.schedule_mode, second.drip_rate) == ("drip", 60)


def test_a_scheduled_at_without_offset_is_utc(shop, lists, daytime):
    at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    naive = at.strftime("%Y-%m-%dT%H:%M:%S")
    body = {"contact_list_ids": [1], "text": "Hi", "schedule_mode": "scheduled", "scheduled_at": naive}
    assert post(shop, SEND, body).status_code == 200
    assert Broadcast.objects.get().scheduled_at == at


@pytest.mark.parametrize(
    ("extra", "loc", "kind"),
    [
        ({"schedule_mode": "scheduled"}, ["scheduled_at"], "value_error.missing"),
        ({"schedule_mode": "scheduled", "scheduled_at": "soon"}, ["scheduled_at"], "value_error.invalid_datetime"),
        ({"schedule_mode": "scheduled", "scheduled_at": "+5m"}, ["scheduled_at"], "value_error.invalid_datetime"),
        ({"schedule_mode": "drip"}, ["drip_rate"], "value_error.missing"),
        ({"schedule_mode": "drip", "drip_rate": 601}, ["drip_rate"], "value_error.out_of_range"),
        ({"schedule_mode": "drip", "drip_rate": 0}, ["drip_rate"], "value_error.out_of_range"),
        ({"schedule_mode": "later"}, ["schedule_mode"], "value_error.invalid_choice"),
        ({"drip_rate": 10}, ["drip_rate"], "value_error.unexpected"),
    ],
)
def test_schedule_rules_are_heralds(shop, lists, extra, loc, kind):
    assert_invalid(post(shop, SEND, {"contact_list_ids": [1], "text": "Hi", **extra}), (loc, kind))
    nothing_sent(shop)


@pytest.mark.parametrize(("ahead", "kind"), [(timedelta(minutes=5), "too_soon"), (timedelta(days=91), "too_far")])
def test_scheduled_at_is_10_minutes_to_90_days_ahead(shop, lists, ahead, kind):
    at = (timezone.now() + ahead).isoformat()
    body = {"contact_list_ids": [1], "text": "Hi", "schedule_mode": "scheduled", "scheduled_at": at}
    assert_invalid(post(shop, SEND, body), (["scheduled_at"], f"value_error.{kind}"))
    nothing_sent(shop)


# --- auth, scopes, limits -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [PRECHECK, SEND])
def test_a_missing_or_bad_key_is_401_invalid_api_key(shop, lists, path):
    api = shop.api
    for header in (None, "Bearer hk_nope_nope", "Token " + api.raw_key, "Bearer"):
        api.credentials(**({"HTTP_AUTHORIZATION": header} if header else {}))
        response = post(shop, path, {"contact_list_ids": [1], "text": "Hi"})
        assert_detail(response, 401, "invalid_api_key")
        assert response["WWW-Authenticate"] == "Bearer"
    nothing_sent(shop)


def test_a_revoked_key_is_401(shop, lists):
    api_key_revoke(api_key=shop.api.api_key)
    assert_detail(post(shop, SEND, {"contact_list_ids": [1], "text": "Hi"}), 401, "invalid_api_key")


@pytest.mark.parametrize("path", [PRECHECK, SEND])
def test_a_key_without_send_sms_is_insufficient_scope(make_shop, path):
    shop = make_shop(scopes=[Scope.READ, Scope.SEND_WHATSAPP])
    make_list(shop, "One", ug(1))
    message = assert_detail(post(shop, path, {"contact_list_ids": [1], "text": "Hi"}), 403, "insufficient_scope")
    assert "send_sms" in message
    nothing_sent(shop)


def test_the_keys_ip_allowlist_and_suspension_apply(shop, lists):
    shop.api.api_key.allowed_ips = ["10.1.2.0/24"]
    shop.api.api_key.save()
    assert_detail(post(shop, SEND, {"contact_list_ids": [1], "text": "Hi"}), 403, "ip_not_allowed")
    shop.api.api_key.allowed_ips = []
    shop.api.api_key.save()
    shop.client.status = "suspended"
    shop.client.save()
    assert_detail(post(shop, SEND, {"contact_list_ids": [1], "text": "Hi"}), 403, "client_suspended")
    nothing_sent(shop)


def test_sends_count_against_compat_send_with_an_integer_retry_after(shop, lists, daytime, redis_url, settings):
    settings.SEND_RATE_LIMIT = "1/h"  # the native limit is not the one that applies here
    settings.COMPAT_SEND_RATE_LIMIT = "2/h"
    body = {"contact_list_ids": [1], "text": "Hi"}
    assert post(shop, SEND, body).status_code == 200
    assert post(shop, SEND, {**body, "contact_list_ids": [99]}).status_code == 400  # a refusal is given back
    assert post(shop, SEND, body).status_code == 200
    response = post(shop, SEND, body)
    assert_detail(response, 429, "rate_limit_exceeded")
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert post(shop, PRECHECK, body).status_code == 200  # prechecks count against API_RATE_LIMIT


def test_an_idempotency_key_replays_the_same_batch(shop, lists, daytime):
    body = {"contact_list_ids": [1], "text": "Hi"}
    first = post(shop, SEND, body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(shop, SEND, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 200
    assert exact(again) == exact(first)
    assert again["Idempotent-Replayed"] == "true"
    assert Broadcast.objects.count() == 1
    assert_detail(
        post(shop, SEND, {**body, "text": "Other"}, HTTP_IDEMPOTENCY_KEY="k-1"), 409, "idempotency_key_reused"
    )
    refused = post(shop, SEND, body, HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_other_methods_and_paths(shop):
    response = shop.api.get(SEND)
    assert (response.status_code, response.json()) == (405, {"detail": "Method Not Allowed"})
    assert shop.api.post(SEND + "/", {"contact_list_ids": [], "text": "x"}, format="json").status_code == 422
    unknown = shop.api.post("/api/messages/other", {}, format="json")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"  # Herald's /api/ 404


def test_esms_paths_are_left_out_of_the_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [p for p in schema["paths"] if p.startswith("/api/messages")]


def test_each_client_is_alone_even_with_equal_list_numbers(shop, make_shop, daytime):
    make_list(shop, "Mine", ug(2))
    other = make_shop(client=ClientFactory())
    make_list(other, "Theirs", ug(3, start=100))
    assert post(shop, PRECHECK, {"contact_list_ids": [1], "text": "Hi"}).json()["total_contacts"] == 2
    assert post(other, PRECHECK, {"contact_list_ids": [1], "text": "Hi"}).json()["total_contacts"] == 3
