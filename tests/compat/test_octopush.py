# ruff: noqa: F811 - the shop fixtures are imported from the broadcasts suite, then used by name
"""SPEC §14, Octopush API v1 (COMPAT.md §3.1, seed 001): `POST sms-campaign/send` and `GET
wallet/check-balance` under /octopush/v1/public/ — Octopush's headers, fields, numeric error codes
and exact JSON numbers, over the native create and Herald's tenancy, scopes and limits."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Scope
from accounts.services import api_key_revoke
from broadcasts.models import Broadcast, Message
from broadcasts.validation import parse_broadcast_request
from compat.jsonnum import decimal_number, dumps
from compat.octopush.dedupe import request_id_claim
from compat.octopush.models import OctopushRequest
from contacts.models import ContactList
from tests.broadcasts.conftest import (  # noqa: F401 - fixtures
    DAYTIME,
    FR,
    UG,
    Shop,
    _ledger_replays,
    daytime,
    make_shop,
    shop,
)
from tests.factories.accounts import ClientFactory
from tests.factories.broadcasts import SenderFactory
from tests.factories.contacts import ContactFactory
from tests.factories.wallets import RouteFactory
from wallets.models import PriceOverride, Route, Wallet

pytestmark = pytest.mark.django_db

SEND = "/octopush/v1/public/sms-campaign/send"
BALANCE = "/octopush/v1/public/wallet/check-balance"
UG2 = "+256772000002"
DE = "+4915112345678"  # no route in the shop
UG_SEGMENT = Decimal("0.009400")  # 35 UGX × 0.000268571, rounded per message
FR_SEGMENT = Decimal("0.070200")  # 0.065 EUR × 1.08


def octopush(shop: Shop, *, key: str | None = None, login: str | None = None) -> Any:
    """The shop's API client speaking Octopush: its key in `api-key`, its client id in `api-login`."""
    api = shop.api
    api.credentials(HTTP_API_KEY=key or api.raw_key, HTTP_API_LOGIN=login or str(shop.client.pk))
    return api


def send(shop: Shop, **body: Any) -> Any:
    payload = {"text": "Hello {first_name}", "recipients": [{"phone_number": UG}, {"phone_number": UG2}], **body}
    return octopush(shop).post(SEND, payload, format="json")


def raw(response: Any) -> str:
    return response.content.decode()


def assert_refused(response: Any, code: int, status: int = 400, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    if message is not None:
        assert body["message"] == message
    return body


def nothing_sent(shop: Shop, balance: str = "100") -> None:
    assert not Broadcast.objects.filter(client=shop.client).exists()
    assert not Message.objects.exists()
    wallet = Wallet.objects.get(pk=shop.client.pk)
    assert (wallet.balance, wallet.reserved) == (Decimal(balance), Decimal(0))


# --- the JSON numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("0.018800", "0.0188"),
        ("0.0188", "0.0188"),
        ("50.750000", "50.75"),
        ("100.000000", "100"),
        ("1E+2", "100"),
        ("0.000000", "0"),
        ("-0.000", "0"),
        ("5.00502839", "5.00502839"),
        ("123456789.123456", "123456789.123456"),
        ("0.000001", "0.000001"),
    ],
)
def test_a_decimal_is_written_with_its_own_digits(value, written):
    assert decimal_number(Decimal(value)) == written


def test_dumps_never_goes_through_a_float():
    text = dumps({"total_cost": Decimal("0.1") + Decimal("0.2"), "n": 2, "s": "é", "ok": True, "none": None})
    assert text == '{"total_cost":0.3,"n":2,"s":"é","ok":true,"none":null}'  # float: 0.30000000000000004
    assert json.loads(text, parse_float=Decimal)["total_cost"] == Decimal("0.3")
    with pytest.raises(ValueError, match="JSON number"):
        dumps({"x": Decimal("NaN")})


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["api-key", "api-login", "both"])
def test_a_missing_header_is_a_401_code_108(shop, missing):
    api = shop.api
    headers = {"HTTP_API_KEY": api.raw_key, "HTTP_API_LOGIN": str(shop.client.pk)}
    if missing in ("api-key", "both"):
        headers.pop("HTTP_API_KEY")
    if missing in ("api-login", "both"):
        headers.pop("HTTP_API_LOGIN")
    api.credentials(**headers)
    response = api.post(SEND, {"text": "Hi", "recipients": [{"phone_number": UG}]}, format="json")
    assert_refused(response, 108, 401, "You have not entered your login details.")
    assert "WWW-Authenticate" not in response
    nothing_sent(shop)


def test_a_herald_bearer_key_alone_is_not_octopush_auth(shop):
    shop.api.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.api.raw_key}")
    assert_refused(shop.api.get(BALANCE), 108, 401)


@pytest.mark.parametrize("case", ["unknown key", "other client", "not an id", "revoked"])
def test_a_bad_key_or_a_login_of_another_client_is_a_401_code_101(shop, make_shop, case):
    api = shop.api
    key, login = api.raw_key, str(shop.client.pk)
    if case == "unknown key":
        key = "hk_nope"
    elif case == "other client":
        login = str(make_shop().client.pk)
    elif case == "not an id":
        login = "my-octopush-login@example.com"
    else:
        api_key_revoke(api_key=api.api_key)
    response = octopush(shop, key=key, login=login).post(
        SEND, {"text": "Hi", "recipients": [{"phone_number": UG}]}, format="json"
    )
    assert_refused(response, 101, 401, "Incorrect login details.")
    nothing_sent(shop)


def test_the_login_is_the_client_id_in_any_uuid_spelling(shop):
    response = octopush(shop, login=shop.client.pk.hex.upper()).get(BALANCE)
    assert response.status_code == 200, response.content


# --- tenancy and scopes ------------------------------------------------------------------------


def test_sending_needs_the_send_sms_scope(make_shop):
    shop = make_shop(scopes=[Scope.READ, Scope.SEND_WHATSAPP])
    body = assert_refused(send(shop), 125, 403)
    assert "send_sms" in body["message"]
    nothing_sent(shop)
    assert send(make_shop(scopes=[Scope.SEND_SMS])).status_code == 201


def test_the_balance_needs_the_read_scope(make_shop):
    shop = make_shop(scopes=[Scope.SEND_SMS])
    assert_refused(octopush(shop).get(BALANCE), 125, 403)
    assert octopush(make_shop(scopes=[Scope.READ])).get(BALANCE).status_code == 200


def test_a_suspended_client_is_a_403_code_113(shop):
    shop.client.status = "suspended"
    shop.client.save()
    assert_refused(send(shop), 113, 403)
    assert_refused(octopush(shop).get(BALANCE), 113, 403)
    nothing_sent(shop)


def test_the_keys_ip_allowlist_applies(make_shop):
    shop = make_shop()
    shop.api.api_key.allowed_ips = ["10.1.2.0/24"]
    shop.api.api_key.save()
    assert_refused(send(shop), 125, 403)
    nothing_sent(shop)


def test_each_client_sees_only_its_own_wallet(make_shop):
    rich, poor = make_shop(balance="100"), make_shop(balance="3")
    assert json.loads(raw(octopush(poor).get(BALANCE))) == {"amount": 3, "unit": "USD"}
    assert json.loads(raw(octopush(rich).get(BALANCE))) == {"amount": 100, "unit": "USD"}


# --- sending -----------------------------------------------------------------------------------


def test_a_campaign_answers_octopushs_body_with_exact_numbers(shop, daytime):
    response = send(shop, recipients=[{"phone_number": UG, "first_name": "Axelle"}, {"phone_number": UG2}])
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    broadcast = Broadcast.objects.get(client=shop.client)
    assert raw(response) == (
        f'{{"sms_ticket":"sms_{broadcast.pk.hex}","number_of_contacts":2,"total_cost":0.0188,'
        '"number_of_sms_needed":2,"residual_credit":99.9812,"message":""}'
    )
    assert broadcast.estimated_cost == 2 * UG_SEGMENT
    assert shop.refresh().available == Decimal("99.981200")


def test_a_campaign_sent_through_octopush_is_the_same_broadcast_in_the_native_api(shop, daytime):
    answer = send(shop, sender="Herald").json()
    broadcast_id = answer["sms_ticket"].removeprefix("sms_")
    shop.api.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.api.raw_key}")
    native = shop.api.get(f"/api/v1/broadcasts/{broadcast_id}/")
    assert native.status_code == 200, native.content
    body = native.json()
    assert body["id"] == str(Broadcast.objects.get().pk)
    assert (body["channel"], body["status"], body["total_recipients"], body["estimated_cost"]) == (
        "sms",
        "queued",
        2,
        "0.018800",
    )
    assert body["name"] == "Octopush API: Hello {first_name}"
    assert Broadcast.objects.get().created_by_key == shop.api.api_key


def test_every_field_maps_onto_the_native_create(shop, daytime):
    RouteFactory(country_code="UG", currency="USD", price_per_segment=Decimal("0.005"), tier="low_cost")
    response = send(
        shop,
        text="Hi {first_name} {last_name}, code {param1}{param5} http://example.com/offer",
        recipients=[
            {"phone_number": UG, "first_name": "Axelle", "last_name": "Durand", "param1": "A1", "param2": None},
            {"phone_number": UG2, "first_name": "John", "last_name": "Smith", "param5": 7},
        ],
        type="sms_low_cost",
        purpose="alert",
        sender="Herald",
        with_replies=True,
        auto_optimize_text=False,
        recipient_tracking=True,
        list_name="Octopush frame 1",
    )
    assert response.status_code == 201, response.content
    broadcast = Broadcast.objects.get()
    assert broadcast.tier == "low_cost"
    assert broadcast.purpose == "transactional"
    assert broadcast.sender == "Herald"
    assert (broadcast.with_replies, broadcast.optimize_text, broadcast.track_links) == (True, False, True)
    assert broadcast.list_name == "Octopush frame 1"
    assert broadcast.created_list == ContactList.objects.get(name="Octopush frame 1")
    assert broadcast.audience["recipients"] == [
        {"address": UG, "variables": {"first_name": "Axelle", "last_name": "Durand", "param1": "A1"}},
        {"address": UG2, "variables": {"first_name": "John", "last_name": "Smith", "param5": "7"}},
    ]
    texts = sorted(Message.objects.values_list("text", flat=True))
    assert texts[0].startswith("Hi Axelle Durand, code A1 ")
    assert texts[1].startswith("Hi John Smith, code 7 ")
    assert "example.com/offer" not in " ".join(texts)  # tracked: the link was rewritten
    assert broadcast.estimated_cost == Decimal("0.010000")  # the low-cost route's price


@pytest.mark.parametrize(
    ("body", "tier", "purpose"),
    [
        ({}, "premium", "marketing"),
        ({"type": "sms_premium", "purpose": "wholesale"}, "premium", "marketing"),
        ({"type": "SMS_PREMIUM", "purpose": "ALERT"}, "premium", "transactional"),
        ({"type": "sms_world", "purpose": "newsletter"}, "premium", "marketing"),
        ({"type": 3, "purpose": None}, "premium", "marketing"),
    ],
)
def test_unknown_or_missing_enums_are_octopushs_defaults(shop, daytime, body, tier, purpose):
    assert send(shop, **body).status_code == 201
    assert (Broadcast.objects.get().tier, Broadcast.objects.get().purpose) == (tier, purpose)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("TRUE", True),
        ("1", True),
        (1, True),
        ("yes", True),
        (False, False),
        ("false", False),
        ("0", False),
        (0, False),
        ("no", False),
        ("maybe", None),  # unreadable: the default
        (None, None),
        ([], None),
    ],
)
@pytest.mark.parametrize(
    ("field", "attribute", "default"),
    [
        ("with_replies", "with_replies", False),
        ("recipient_tracking", "track_links", False),
        ("auto_optimize_text", "optimize_text", True),
    ],
)
def test_booleans_are_read_leniently(shop, daytime, field, attribute, default, value, expected):
    response = send(shop, **{field: value})
    assert response.status_code == 201, response.content
    assert getattr(Broadcast.objects.get(), attribute) == (default if expected is None else expected)


@pytest.mark.parametrize("value", ["true", "1", 1])
def test_simulation_mode_in_any_spelling_sends_stores_and_charges_nothing(shop, daytime, value):
    response = send(shop, simulation_mode=value)
    assert response.status_code == 201, response.content
    body = json.loads(raw(response), parse_float=Decimal)
    assert body["sms_ticket"].startswith("sms_")
    assert len(body["sms_ticket"]) == 36
    # residual_credit: what would be left, as the native simulation says.
    assert (body["number_of_contacts"], body["total_cost"], body["residual_credit"]) == (
        2,
        Decimal("0.0188"),
        Decimal("99.9812"),
    )
    nothing_sent(shop)


def test_recipients_accept_octopushs_casts(shop, daytime):
    assert send(shop, recipients=f"{UG},{UG2}").status_code == 201  # a comma-separated string
    assert send(shop, recipients={"phone_number": UG, "first_name": "A"}).status_code == 201  # one object
    assert send(shop, recipients=[UG, {"phone_number": 256772000003}]).status_code == 201  # strings, numbers
    assert [b.total_recipients for b in Broadcast.objects.order_by("created_at")] == [2, 1, 2]


def test_opted_out_contacts_are_kept_only_for_an_alert_that_says_so(shop, daytime):
    ContactFactory(client=shop.client, phone=UG2, opted_out=True, opted_out_at=timezone.now())
    assert send(shop, purpose="wholesale", auto_delete_optout_contacts=False).json()["number_of_contacts"] == 1
    assert send(shop, purpose="alert").json()["number_of_contacts"] == 1
    assert send(shop, purpose="alert", auto_delete_optout_contacts="false").json()["number_of_contacts"] == 2
    assert send(shop, purpose="alert", auto_remove_blacklisted_numbers=0).json()["number_of_contacts"] == 2


# --- send_at -----------------------------------------------------------------------------------


def test_no_send_at_or_a_past_one_sends_now(shop, daytime):
    past = (timezone.now() - timedelta(days=2)).isoformat()
    for body in ({}, {"send_at": past}, {"send_at": ""}, {"send_at": None}):
        assert send(shop, **body).status_code == 201
    assert set(Broadcast.objects.values_list("schedule_mode", "status", "scheduled_at")) == {("now", "queued", None)}


def test_a_send_at_two_minutes_ahead_is_scheduled_then_though_herald_asks_ten(shop, daytime):
    at = (timezone.now() + timedelta(minutes=2)).replace(microsecond=0)
    octopush_time = at.astimezone(timezone.get_fixed_timezone(-7 * 60)).isoformat()  # "…-07:00", as in seed 001
    response = send(shop, send_at=octopush_time)
    assert response.status_code == 201, response.content
    broadcast = Broadcast.objects.get()
    assert (broadcast.schedule_mode, broadcast.status, broadcast.scheduled_at) == ("scheduled", "scheduled", at)
    assert shop.refresh().reserved == broadcast.estimated_cost  # reserved like any scheduled broadcast
    # The native API keeps its 10 minutes.
    shop.api.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.api.raw_key}")
    native = shop.create(recipients=[UG], schedule_mode="scheduled", scheduled_at=at.isoformat())
    assert native.status_code == 400
    assert native.json()["error"]["code"] == "too_soon"


def test_the_schedule_minimum_is_a_service_option(daytime):
    now = timezone.now()
    body = {"name": "x", "recipients": [UG], "text": "Hi", "schedule_mode": "scheduled"}
    soon = {**body, "scheduled_at": (now + timedelta(seconds=30)).isoformat()}
    with pytest.raises(ValidationError) as refused:
        parse_broadcast_request(soon, now=now)
    assert refused.value.error_dict["scheduled_at"][0].messages == ["scheduled_at must be at least 10 minutes ahead."]
    assert parse_broadcast_request(soon, now=now, min_schedule_ahead=timedelta(0)).scheduled_at is not None
    past = {**body, "scheduled_at": (now - timedelta(seconds=1)).isoformat()}
    with pytest.raises(ValidationError) as refused:
        parse_broadcast_request(past, now=now, min_schedule_ahead=timedelta(0))
    assert refused.value.error_dict["scheduled_at"][0].messages == ["scheduled_at must be in the future."]


def test_a_send_at_beyond_herald_s_90_days_or_unreadable_is_refused(shop, daytime):
    far = (timezone.now() + timedelta(days=91)).isoformat()
    body = assert_refused(send(shop, send_at=far), 125)
    assert body["message"].startswith("An undefined error has occurred. send_at: ")
    body = assert_refused(send(shop, send_at="next tuesday"), 125)
    assert "send_at" in body["message"]
    nothing_sent(shop)


# --- request_id --------------------------------------------------------------------------------


def test_a_repeated_request_id_is_a_400_code_120_and_sends_nothing(shop, daytime):
    first = send(shop, request_id="frame-1")
    assert first.status_code == 201
    repeat = send(shop, request_id="frame-1", text="Another text entirely")
    assert_refused(repeat, 120, 400, "A SMS with the same request_id has already been sent.")
    broadcast = Broadcast.objects.get()
    assert Message.objects.count() == 2
    assert shop.refresh().reserved == broadcast.estimated_cost
    [used] = OctopushRequest.objects.all()
    assert used.broadcast_id == broadcast.pk
    assert send(shop, request_id="frame-2").status_code == 201
    assert send(shop).status_code == 201  # no request_id: never deduped
    assert send(shop).status_code == 201


def test_a_request_id_is_per_client(make_shop, daytime):
    one, two = make_shop(), make_shop()
    assert send(one, request_id="frame-1").status_code == 201
    assert send(two, request_id="frame-1").status_code == 201


def test_a_request_id_is_free_again_after_24_hours(shop):
    with time_machine.travel(DAYTIME, tick=False) as clock:
        assert send(shop, request_id=42).status_code == 201
        clock.shift(timedelta(hours=23, minutes=59))
        assert_refused(send(shop, request_id="42"), 120)
        clock.shift(timedelta(minutes=2))
        assert send(shop, request_id="42").status_code == 201
    assert OctopushRequest.objects.count() == 1  # the expired row went


@pytest.mark.parametrize(
    ("refused", "code"),
    [
        ({"recipients": [{"phone_number": FR}], "text": "Promo -20%"}, 121),
        ({"sender": "NotMine"}, 106),
        ({"text": ""}, 107),
        ({"text": "x" * 1300}, 107),
        ({"recipients": [{"phone_number": "+4915112345678"}]}, 151),
    ],
)
def test_a_refused_send_does_not_burn_its_request_id(shop, daytime, refused, code):
    assert_refused(send(shop, request_id="frame-1", **refused), code)
    assert not OctopushRequest.objects.exists()
    nothing_sent(shop)
    assert send(shop, request_id="frame-1").status_code == 201


def test_running_out_of_credit_does_not_burn_the_request_id(make_shop, daytime):
    shop = make_shop(balance="0.01")
    assert_refused(send(shop, request_id="r", recipients=[{"phone_number": FR}], text="Promo STOP au 36180"), 104)
    nothing_sent(shop, balance="0.01")
    assert send(shop, request_id="r", recipients=[{"phone_number": UG}]).status_code == 201


def test_a_simulation_checks_the_request_id_but_does_not_take_it(shop, daytime):
    assert send(shop, request_id="r", simulation_mode=True).status_code == 201
    assert not OctopushRequest.objects.exists()
    assert send(shop, request_id="r").status_code == 201
    assert_refused(send(shop, request_id="r", simulation_mode=True), 120)


def test_an_idempotency_key_is_honoured_too(shop, daytime):
    first = send(shop, request_id="r")
    api = octopush(shop)
    body = {"text": "Hello", "recipients": [{"phone_number": UG}]}
    once = api.post(SEND, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(SEND, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, once.status_code, again.status_code) == (201, 201, 201)
    assert again["Idempotent-Replayed"] == "true"
    # Numbers stay numbers, with the same digits, on a replay.
    assert json.loads(raw(again), parse_float=Decimal) == json.loads(raw(once), parse_float=Decimal)
    assert '"total_cost":0.0094' in raw(again)
    assert Broadcast.objects.count() == 2


# --- errors ------------------------------------------------------------------------------------


def test_stop_missing_for_french_marketing_is_code_121_as_in_seed_001(shop, daytime):
    response = send(shop, recipients=[{"phone_number": FR}], text="Promo -20% today")
    assert_refused(response, 121, 400, "Mention STOP is missing.")
    nothing_sent(shop)
    alert = send(shop, recipients=[{"phone_number": FR}], text="Your code is 1234", purpose="alert")
    assert alert.status_code == 201
    assert json.loads(raw(alert), parse_float=Decimal)["total_cost"] == FR_SEGMENT


# Seed 001's only request example, its `recipients`, exactly as printed: not JSON (single quotes,
# no closing quote after Durand, an ellipsis), with 16-digit numbers no country has.
SEED_001_RECIPIENTS = (
    "[{'phone_number': '+111222233334444', 'first_name': 'Axelle', 'last_name':'Durand, 'param1': null, "
    "'param2': null, 'param3': null, 'param4': null, 'param5': null},...,{'phone_number':'+2222333334444555', "
    "'first_name': 'John', 'last_name': 'Smith', 'param3': 'M'}]"
)


def test_seed_001s_example_as_printed_is_refused_and_as_json_gets_the_seeds_answer(shop, daytime):
    printed = '{"text": "Hello {first_name}", "recipients": ' + SEED_001_RECIPIENTS + "}"
    assert_refused(octopush(shop).post(SEND, printed, content_type="application/json"), 125)
    nothing_sent(shop)
    # The same example quoted as JSON, with numbers that exist, and every other seed field at the
    # seed's own example value (send_at is in 2018: sent now).
    blank = {f"param{i}": None for i in range(1, 6)}
    payload = {
        "sender": "Herald",
        "send_at": "2018-10-03T07:42:39-07:00",
        "text": "Hello {first_name} {param3}",
        "recipients": [
            {"phone_number": UG, "first_name": "Axelle", "last_name": "Durand", **blank},
            {"phone_number": UG2, "first_name": "John", "last_name": "Smith", "param3": "M"},
        ],
        "purpose": "alert",
        "auto_delete_optout_contacts": True,
        "type": "sms_premium",
        "list_name": "Seed 001",
        "with_replies": "True",
        "simulation_mode": False,
        "recipient_tracking": "True",
        "auto_optimize_text": False,
    }
    response = octopush(shop).post(SEND, json.dumps(payload), content_type="application/json")
    assert response.status_code == 201, response.content
    answer = json.loads(raw(response), parse_float=Decimal)
    assert list(answer) == [
        "sms_ticket",
        "number_of_contacts",
        "total_cost",
        "number_of_sms_needed",
        "residual_credit",
        "message",
    ]  # fmt: skip  - the seed's success example, key for key
    assert answer["sms_ticket"] == f"sms_{Broadcast.objects.get().pk.hex}"
    assert (answer["number_of_contacts"], answer["number_of_sms_needed"]) == (2, 2)
    assert (answer["total_cost"], answer["residual_credit"]) == (2 * UG_SEGMENT, 100 - 2 * UG_SEGMENT)
    assert sorted(Message.objects.values_list("text", flat=True)) == ["Hello Axelle ", "Hello John M"]


def test_too_little_credit_is_code_104_and_nothing_is_created(make_shop, daytime):
    shop = make_shop(balance="0.01")
    body = assert_refused(send(shop, recipients=[{"phone_number": UG}, {"phone_number": UG2}, {"phone_number": FR}],
                               text="Promo STOP au 36180"), 104)  # fmt: skip
    assert body["message"].startswith("You have run out of credit. This broadcast needs 0.089000 USD")
    nothing_sent(shop, balance="0.01")


def test_a_client_without_a_wallet_has_no_credit(make_api):
    api = make_api()
    api.credentials(HTTP_API_KEY=api.raw_key, HTTP_API_LOGIN=str(api.tenant.pk))
    assert_refused(api.post(SEND, {"text": "Hi", "recipients": [UG]}, format="json"), 104)
    assert_refused(api.get(BALANCE), 104)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"text": None}, 107, "The text of your message is missing."),
        ({"text": "   "}, 107, "The text of your message is missing."),
        ({"text": {"a": 1}}, 107, "The text of your message is missing."),
        ({"recipients": None}, 110, "You have not entered the list of recipient."),
        ({"recipients": []}, 103, "Your message has no recipients."),
        ({"recipients": ""}, 103, "Your message has no recipients."),
        ({"recipients": [{"first_name": "A"}]}, 103, None),
        ({"recipients": 12}, 103, None),
        ({"recipients": [{"phone_number": "hello"}, {"phone_number": "+1"}]}, 117, None),
        ({"sender": "No Spaces!"}, 106, None),
        ({"sender": "Unregistrd"}, 106, None),
        ({"sender": {"x": 1}}, 106, None),
        ({"text": "é" * 1225}, 107, None),
    ],
)
def test_bad_input_gets_octopushs_code_and_changes_nothing(shop, daytime, body, code, message):
    payload = {"text": "Hello", "recipients": [{"phone_number": UG}], **body}
    if body.get("recipients", 0) is None:
        payload.pop("recipients")
    assert_refused(octopush(shop).post(SEND, payload, format="json"), code, 400, message)
    nothing_sent(shop)


def test_an_item_without_a_phone_number_is_named(shop):
    body = assert_refused(send(shop, recipients=[{"phone_number": UG}, {"first_name": "A"}]), 103)
    assert body["message"] == "Your message has no recipients. recipients.1: each recipient needs a phone_number."


def test_a_text_too_long_says_so(shop):
    body = assert_refused(send(shop, text="x" * 1300), 107)
    assert body["message"] == "text: The text is 1300 characters; SMS allows 1224."


def test_no_route_for_the_country_is_151_and_only_low_cost_missing_is_152(shop, daytime):
    body = assert_refused(send(shop, recipients=[{"phone_number": DE}]), 151)
    assert body["message"] == "The recipient country is not part of the countries serviced by Herald."
    assert_refused(send(shop, type="sms_low_cost"), 152)  # UG has a premium route only
    assert_refused(send(shop, recipients=[{"phone_number": "+80012345678"}]), 150)  # no country at all
    # Some routable: sent, the rest skipped as unroutable.
    assert send(shop, recipients=[{"phone_number": DE}, {"phone_number": UG}]).json()["number_of_contacts"] == 1
    assert Broadcast.objects.get().skipped_unroutable == 1


def test_invalid_and_unroutable_together_are_117(shop, daytime):
    assert_refused(send(shop, recipients=[{"phone_number": DE}, {"phone_number": "12"}]), 117)


def test_a_taken_list_name_is_125(shop, daytime):
    assert send(shop, list_name="Frame").status_code == 201
    body = assert_refused(send(shop, list_name="Frame"), 125)
    assert "Frame" in body["message"]


def test_malformed_requests_answer_octopushs_shape(shop):
    api = octopush(shop)
    assert_refused(api.post(SEND, [1, 2], format="json"), 125)
    assert_refused(api.post(SEND, "{not json", content_type="application/json"), 125)
    assert_refused(api.post(SEND, {"text": "Hi"}), 125, 415)  # multipart: Octopush sends JSON
    assert_refused(api.get(SEND), 125, 405)
    assert_refused(api.post("/octopush/v1/public/sms-campaign/send-sms", {}, format="json"), 125, 404)
    nothing_sent(shop)


def test_a_trailing_slash_is_the_same_endpoint(shop, daytime):
    response = octopush(shop).post(SEND + "/", {"text": "Hi", "recipients": [UG]}, format="json")
    assert response.status_code == 201


def test_compat_paths_are_left_out_of_the_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [p for p in schema["paths"] if "octopush" in p]


# --- rate limits -------------------------------------------------------------------------------


def test_sends_count_against_compat_send_and_a_429_has_an_integer_retry_after(shop, daytime, redis_url, settings):
    settings.SEND_RATE_LIMIT = "1/h"  # the native limit is not the one that applies here
    settings.COMPAT_SEND_RATE_LIMIT = "2/h"
    assert send(shop).status_code == 201
    assert_refused(send(shop, text=""), 107)  # a refusal is given back: nothing was sent
    assert send(shop).status_code == 201
    response = send(shop)
    assert_refused(response, 429, 429, "Too many requests.")
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert octopush(shop).get(BALANCE).status_code == 200  # reads count against API_RATE_LIMIT


def test_the_balance_counts_against_the_api_limit(shop, redis_url, settings):
    settings.API_RATE_LIMIT = "1/h"
    assert octopush(shop).get(BALANCE).status_code == 200
    response = octopush(shop).get(BALANCE)
    assert_refused(response, 429, 429)
    assert response["Retry-After"].isdigit()


# --- check-balance -----------------------------------------------------------------------------


def test_the_balance_is_the_wallets_available_credit_as_a_number(shop, daytime):
    assert raw(octopush(shop).get(BALANCE)) == '{"amount":100,"unit":"USD"}'
    assert send(shop).status_code == 201  # reserves 0.0188
    assert raw(octopush(shop).get(BALANCE)) == '{"amount":99.9812,"unit":"USD"}'


@pytest.mark.parametrize(
    ("params", "amount", "unit"),
    [
        ({"product_name": "sms_premium", "country_code": "FR"}, 1424, "sms_premium"),  # 100 / 0.0702
        ({"product_name": "sms_premium", "country_code": "fr"}, 1424, "sms_premium"),
        ({"country_code": "UG"}, 10638, "sms_premium"),  # 100 / 0.0094; no product: premium
        ({"product_name": "sms_whatever", "country_code": "US"}, 12658, "sms_premium"),  # 100 / 0.0079
        ({"product_name": "sms_low_cost", "country_code": "UG", "with_details": "true"}, 20000, "sms_low_cost"),
    ],
)
def test_the_balance_by_country_is_the_number_of_sms_it_buys(shop, params, amount, unit):
    RouteFactory(country_code="UG", currency="USD", price_per_segment=Decimal("0.005"), tier="low_cost")
    response = octopush(shop).get(BALANCE, params)
    assert response.status_code == 200, response.content
    assert raw(response) == f'{{"amount":{amount},"unit":"{unit}","wallet_packs":[]}}'


def test_the_balance_by_country_floors_exactly(make_shop):
    shop = make_shop(balance="0.2106")  # exactly 3 French segments: no float rounding below 3
    assert octopush(shop).get(BALANCE, {"country_code": "FR"}).json()["amount"] == 3
    shop = make_shop(balance="0.210599")
    assert octopush(shop).get(BALANCE, {"country_code": "FR"}).json()["amount"] == 2


def test_the_balance_by_country_uses_the_clients_own_price(shop):
    PriceOverride.objects.create(
        client=shop.client, route=Route.objects.get(route_code="SIM_US"), price_per_segment=Decimal("0.01")
    )
    assert octopush(shop).get(BALANCE, {"country_code": "US"}).json()["amount"] == 10000


def test_the_balance_by_country_refusals(shop):
    api = octopush(shop)
    assert_refused(api.get(BALANCE, {"country_code": "DE"}), 151)
    assert_refused(api.get(BALANCE, {"country_code": "XX"}), 150)
    assert_refused(api.get(BALANCE, {"country_code": "FRA"}), 150)
    assert_refused(api.get(BALANCE, {"country_code": "FR", "product_name": "sms_low_cost"}), 152)


def test_a_registered_sender_of_another_client_is_refused(make_shop, daytime):
    mine, theirs = make_shop(), make_shop()
    SenderFactory(client=theirs.client, sender="Theirs")
    assert_refused(send(mine, sender="Theirs"), 106)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_commits", [True, False])
def test_a_concurrent_repeat_waits_for_the_first_and_is_refused_only_if_it_committed(first_commits):
    """Two requests with one request_id at once: the second waits on the first's row, then is
    refused (the first sent) or goes (the first was refused and rolled back)."""
    client = ClientFactory()
    now = timezone.now()
    claimed, release = threading.Event(), threading.Event()
    result: dict[str, Any] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                result["first"] = request_id_claim(client=client, request_id="frame-1", now=now)
                claimed.set()
                release.wait(10)
                if not first_commits:
                    raise RuntimeError("the send was refused")
        except RuntimeError:
            pass
        finally:
            connection.close()

    def second() -> None:
        claimed.wait(10)
        try:
            with transaction.atomic():
                result["second"] = request_id_claim(client=client, request_id="frame-1", now=now)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert claimed.wait(10)
    time.sleep(0.3)
    assert threads[1].is_alive()  # waiting for the first transaction to end
    release.set()
    for thread in threads:
        thread.join(10)
    assert result["first"] is not None
    assert (result["second"] is None) == first_commits
    assert OctopushRequest.objects.count() == 1
