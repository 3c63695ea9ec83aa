# ruff: noqa: F811 - the shop fixtures are imported from the broadcasts suite, then used by name
"""SPEC §14, the legacy Octopush API (COMPAT.md §3.2): `/octopush-legacy/api/sms` and `/api/balance`,
judged by the real `octopush` 1.0.0 package from PyPI (its `SMS` and `OWS` classes, with
`octopush.DOMAIN` pointed at Herald, its HTTP carried in process by Django's test client), plus form
posts for every code, the request_sha1 check, the request_id dedupe shared with API v1, tenancy,
scopes and limits.

The package imports and runs on Python 3.11 unchanged: `xml.etree.cElementTree` is gone, but it falls
back to `xml.etree.ElementTree` itself; no shim is applied."""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import octopush
import pytest
import requests
import requests.adapters
import time_machine
from django.test import Client as DjangoClient
from django.utils import timezone
from octopush import OWS, SMS
from requests.structures import CaseInsensitiveDict
from rest_framework.test import APIClient

from accounts.models import Scope
from accounts.services import api_key_revoke
from broadcasts.models import Broadcast, Message
from compat.octopush.models import OctopushRequest
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
from tests.factories.broadcasts import SenderFactory
from tests.factories.contacts import ContactFactory
from tests.factories.wallets import RouteFactory
from wallets.models import Wallet

SMS_PATH = "/octopush-legacy/api/sms"
BALANCE_PATH = "/octopush-legacy/api/balance"
UG2 = "+256772000002"
DE = "+4915112345678"  # no route in the shop
XML = "text/xml; charset=utf-8"

pytestmark = pytest.mark.django_db
SUCCESS_TAGS = [
    "error_code",
    "cost",
    "balance",
    "ticket",
    "sending_date",
    "number_of_sendings",
    "currency_code",
    "successs",
    "failures",
]


# --- helpers -------------------------------------------------------------------------------------


def post(shop: Shop, path: str = SMS_PATH, **fields: Any) -> Any:
    """A form post as the package makes it: `user_login` + `api_key` among the fields (a field given
    as None is left out)."""
    body = {"user_login": str(shop.client.pk), "api_key": shop.api.raw_key, **fields}
    body = {name: value for name, value in body.items() if value is not None}
    return APIClient().post(path, urlencode(body), content_type="application/x-www-form-urlencoded")


def send(shop: Shop, **fields: Any) -> Any:
    """The fields `SMS.send()` posts (its defaults where the test says nothing), to two Ugandan numbers."""
    body = {
        "sms_text": "Hello {prenom}",
        "sms_recipients": f"{UG},{UG2}",
        "recipients_first_names": "",
        "recipients_last_names": "",
        "sms_fields_1": "",
        "sms_fields_2": "",
        "sms_fields_3": "",
        "sms_mode": "1",
        "sms_type": "FR",
        "sms_sender": "CampagneSMS",
        "request_mode": "real",
        "request_id": "",
        "with_replies": "0",
        "transactional": "0",
        "msisdn_sender": "0",
        **fields,
    }
    return post(shop, **body)


def document(response: Any) -> ET.Element:
    assert response["Content-Type"] == XML
    root = ET.fromstring(response.content)  # noqa: S314 - Herald's own answer
    assert root.tag == "octopush"
    return root


def accepted(response: Any) -> ET.Element:
    assert response.status_code == 200, response.content
    root = document(response)
    assert root.findtext("error_code") == "000", response.content
    assert [child.tag for child in root] == SUCCESS_TAGS
    return root


def assert_code(response: Any, code: int, status: int = 200) -> None:
    """The legacy refusal: `<octopush><error_code>NNN</error_code></octopush>` and nothing else; at
    HTTP 200 the code is one the package knows (it raises `Exception(octopush.ERRORS[code])`)."""
    assert response.status_code == status, response.content
    root = document(response)
    assert [child.tag for child in root] == ["error_code"], response.content
    assert root.findtext("error_code") == f"{code:03d}", response.content
    if status == 200:
        assert f"{code:03d}" in octopush.ERRORS


def nothing_sent(shop: Shop, balance: str = "100") -> None:
    assert not Broadcast.objects.filter(client=shop.client).exists()
    assert not Message.objects.filter(client=shop.client).exists()
    wallet = Wallet.objects.get(pk=shop.client.pk)
    assert (wallet.balance, wallet.reserved) == (Decimal(balance), Decimal(0))


def successes(root: ET.Element) -> list[tuple[str | None, ...]]:
    return [
        (s.findtext("recipient"), s.findtext("country_code"), s.findtext("cost"), s.findtext("sms_needed"))
        for s in root.iterfind("successs/success")
    ]


def failures(root: ET.Element) -> list[tuple[str | None, str | None]]:
    return [(f.findtext("recipient"), f.findtext("error_code")) for f in root.iterfind("failures/failure")]


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


# --- the real client, against a live Herald ------------------------------------------------------


class DjangoAdapter(requests.adapters.BaseAdapter):
    """Carries a `requests` session's HTTP to Herald through Django's test client, in process: the
    package's own requests, form encoding and XML parsing, without a test server's sockets (Django's
    test server dropped a connection now and then: RemoteDisconnected in one run of two)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        path = request.url.split("://testserver", 1)[1]
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items()}
        answer = DjangoClient().generic(
            str(request.method),
            path,
            request.body or b"",
            content_type=request.headers.get("Content-Type", ""),
            **headers,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response.url, response.reason, response.request = request.url, answer.reason_phrase, request
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def legacy(monkeypatch: pytest.MonkeyPatch) -> Callable[[Shop], SMS]:
    """legacy(shop) → the package's `SMS` for the shop's client id and key, `octopush.DOMAIN` set to
    Herald as a migrating user sets it; every session the package makes (SMS, OWS) reaches Herald
    through DjangoAdapter."""
    monkeypatch.setattr(octopush, "DOMAIN", "http://testserver/octopush-legacy")

    class WiredSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.mount("http://testserver/", DjangoAdapter())

    monkeypatch.setattr(requests, "Session", WiredSession)

    def _make(shop: Shop) -> SMS:
        return SMS(str(shop.client.pk), shop.api.raw_key)

    return _make


@pytest.mark.django_db(transaction=True)  # committed, as a real server's request is: dispatch runs
def test_the_package_sends_and_it_is_the_same_broadcast_in_the_native_api(shop, daytime, legacy):
    sms = legacy(shop)
    sms.set_sms_text("Bonjour {prenom} {nom}, code {ch1}{ch3}")
    sms.set_sms_recipients([UG, UG2])
    sms.set_recipients_first_names(["Axelle", "John"])
    sms.set_recipients_last_names(["Durand", "Smith"])
    sms.set_sms_fields_1(["A1", ""])
    sms.set_sms_fields_3(["", "Z3"])
    sms.set_sms_type(octopush.SMS_PREMIUM)
    sms.set_sms_sender("Herald")
    sms.set_sms_request_id("frame-1")  # the package strips it to "frame1"
    sms.set_option_with_replies(1)
    sms.set_option_transactional(1)
    doc = sms.send()
    assert isinstance(doc, ET.Element)
    assert doc.findtext("error_code") == "000"
    broadcast = Broadcast.objects.get(client=shop.client)
    assert doc.findtext("ticket") == f"sms_{broadcast.pk.hex}"
    assert (doc.findtext("cost"), doc.findtext("balance"), doc.findtext("currency_code")) == (
        "0.0188",
        "99.9812",
        "USD",
    )
    assert doc.findtext("number_of_sendings") == "2"
    assert abs(int(doc.findtext("sending_date") or 0) - time.time()) < 60
    assert successes(doc) == [(UG, "UG", "0.0094", "1"), (UG2, "UG", "0.0094", "1")]
    assert failures(doc) == []
    assert sorted(Message.objects.values_list("text", flat=True)) == [
        "Bonjour Axelle Durand, code A1",
        "Bonjour John Smith, code Z3",
    ]
    assert (broadcast.tier, broadcast.purpose, broadcast.sender, broadcast.with_replies) == (
        "premium",
        "transactional",
        "Herald",
        True,
    )
    assert OctopushRequest.objects.get().broadcast_id == broadcast.pk
    native = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/")
    assert native.status_code == 200, native.content
    body = native.json()
    # Committed for real here (a live server), so the simulator connector has sent it already.
    assert (body["channel"], body["status"], body["total_recipients"], body["estimated_cost"]) == (
        "sms",
        "sent",
        2,
        "0.018800",
    )
    assert body["name"] == "Octopush legacy: Bonjour {prenom} {nom}, code {ch1}{ch3}"
    assert broadcast.created_by_key == shop.api.api_key


def test_the_package_raises_octopushs_own_message_for_each_refusal(make_shop, daytime, legacy):
    shop = make_shop()
    sms = legacy(shop)
    sms.set_sms_recipients([FR])
    sms.set_sms_type(octopush.SMS_PREMIUM)
    sms.set_sms_text("Promo -20% today")
    with pytest.raises(Exception, match="STOP au XXXXX") as refused:
        sms.send()
    assert str(refused.value) == octopush.ERRORS["121"]
    sms.set_sms_text("Promo -20% today, STOP au 36180")
    sms.set_sms_request_id("r1")
    assert sms.send().findtext("error_code") == "000"
    with pytest.raises(Exception, match="request_id") as refused:
        sms.send()  # the same request_id within 24 h
    assert str(refused.value) == octopush.ERRORS["120"]
    with pytest.raises(Exception, match="Incorrect login") as refused:
        SMS(str(shop.client.pk), "hk_not_a_key").send()
    assert str(refused.value) == octopush.ERRORS["101"]
    with pytest.raises(Exception, match="Incorrect login") as refused:
        SMS(str(make_shop().client.pk), shop.api.raw_key).get_balance()  # another client's login
    assert str(refused.value) == octopush.ERRORS["101"]
    assert Broadcast.objects.filter(client=shop.client).count() == 1


def test_the_package_reads_the_balance_by_type(make_shop, legacy):
    shop = make_shop(balance="100")
    RouteFactory(country_code="FR", currency="USD", price_per_segment=Decimal("0.03"), tier="low_cost")
    for client in (legacy(shop), OWS(str(shop.client.pk), shop.api.raw_key)):
        doc = client.get_balance()
        assert doc.findtext("error_code") == "000"
        # 100 USD buys 1424 premium French SMS at 0.0702 (0.065 EUR × 1.08), 3333 low-cost at 0.03.
        assert {b.attrib["type"]: b.text for b in doc.findall("balance")} == {"FR": "1424", "XXX": "3333"}


def test_the_package_schedules_a_deferred_send_at_its_unix_time(shop, daytime, legacy):
    sms = legacy(shop)
    sms.set_sms_text("Later")
    sms.set_sms_recipients([UG])
    sms.set_sms_type(octopush.SMS_WORLD)
    sms.set_sms_mode(octopush.DIFFERE)
    later = datetime.now().astimezone() + timedelta(hours=2)  # the package reads set_date as local time
    sms.set_date(later.year, later.month, later.day, later.hour, later.minute)
    doc = sms.send()
    broadcast = Broadcast.objects.get()
    at = datetime.fromtimestamp(sms.sending_date, tz=UTC)
    assert (broadcast.schedule_mode, broadcast.status, broadcast.scheduled_at) == ("scheduled", "scheduled", at)
    assert doc.findtext("sending_date") == str(sms.sending_date)
    assert broadcast.tier == "premium"  # WWW (world) is premium


def test_the_package_simulates_and_checks_its_request_sha1(shop, daytime, legacy):
    sms = legacy(shop)
    sms.set_sms_text("Hello {prenom}")
    sms.set_sms_recipients([UG, DE])
    sms.set_recipients_first_names(["Axelle", "Hans"])
    sms.set_sms_type(octopush.SMS_PREMIUM)
    sms.set_sms_sender("Herald")
    sms.set_sms_request_id("sim-1")
    sms.set_simulation_mode()
    sms.set_request_keys("TRYSabcdeQD")  # text, recipients, type, sender, the columns, request_id
    doc = sms.send()
    assert doc.findtext("error_code") == "000"
    assert successes(doc) == [(UG, "UG", "0.0094", "1")]
    assert failures(doc) == [(DE, "151")]
    assert (doc.findtext("cost"), doc.findtext("balance")) == ("0.0094", "99.9906")
    nothing_sent(shop)
    assert not OctopushRequest.objects.exists()


def test_a_throttled_package_raises_with_the_body(shop, daytime, legacy, redis_url, settings):
    settings.COMPAT_SEND_RATE_LIMIT = "1/h"
    sms = legacy(shop)
    sms.set_sms_text("Hi")
    sms.set_sms_recipients([UG])
    sms.set_sms_type(octopush.SMS_PREMIUM)
    sms.send()
    with pytest.raises(Exception, match="<error_code>429</error_code>"):
        sms.send()


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"user_login": ""}, 108),
        ({"user_login": " "}, 108),
        ({"user_login": None}, 108),
        ({"api_key": ""}, 109),
        ({"api_key": None}, 109),
        ({"user_login": None, "api_key": None}, 108),
    ],
)
def test_missing_credentials_are_108_or_109(shop, fields, code):
    assert_code(post(shop, BALANCE_PATH, **fields), code)
    assert_code(send(shop, **fields), code)
    nothing_sent(shop)


@pytest.mark.parametrize("case", ["unknown key", "other client", "not an id", "revoked"])
def test_a_bad_key_or_the_login_of_another_client_is_101(shop, make_shop, daytime, case):
    key, login = shop.api.raw_key, str(shop.client.pk)
    if case == "unknown key":
        key = "hk_nope"
    elif case == "other client":
        login = str(make_shop().client.pk)
    elif case == "not an id":
        login = "me@example.com"  # an Octopush e-mail login
    else:
        api_key_revoke(api_key=shop.api.api_key)
    assert_code(send(shop, user_login=login, api_key=key), 101)
    assert_code(post(shop, BALANCE_PATH, user_login=login, api_key=key), 101)
    nothing_sent(shop)


def test_the_login_is_the_client_id_in_any_uuid_spelling(shop):
    response = post(shop, BALANCE_PATH, user_login=shop.client.pk.hex.upper())
    assert document(response).findtext("error_code") == "000"


def test_a_herald_bearer_header_is_not_legacy_auth(shop):
    response = shop.api.post(BALANCE_PATH, {}, format="multipart")
    assert_code(response, 108)
    assert "WWW-Authenticate" not in response


def test_anything_but_a_form_post_is_100(shop):
    fields = {"user_login": str(shop.client.pk), "api_key": shop.api.raw_key}
    client = APIClient()
    assert_code(client.get(BALANCE_PATH, fields), 100)  # keys in a URL end up in logs
    assert_code(client.get(SMS_PATH, fields), 100)
    assert_code(client.post(SMS_PATH, fields, format="json"), 100)
    assert_code(client.put(SMS_PATH, urlencode(fields), content_type="application/x-www-form-urlencoded"), 100)
    nothing_sent(shop)


def test_multipart_is_a_form_too(shop):
    response = APIClient().post(BALANCE_PATH, {"user_login": str(shop.client.pk), "api_key": shop.api.raw_key})
    assert document(response).findtext("error_code") == "000"


def test_a_trailing_slash_is_the_same_endpoint_and_other_paths_are_404(shop):
    assert document(post(shop, BALANCE_PATH + "/")).findtext("error_code") == "000"
    for path in ("/octopush-legacy/api/sms/json", "/octopush-legacy/api/edit_options", "/octopush-legacy/api/"):
        assert_code(post(shop, path), 125, 404)


# --- tenancy and scopes --------------------------------------------------------------------------


def test_sending_needs_the_send_sms_scope_and_the_balance_the_read_scope(make_shop, daytime):
    reader = make_shop(scopes=[Scope.READ])
    assert_code(send(reader), 207)  # "You do not have access to this feature."
    nothing_sent(reader)
    assert document(post(reader, BALANCE_PATH)).findtext("error_code") == "000"
    sender = make_shop(scopes=[Scope.SEND_SMS])
    assert_code(post(sender, BALANCE_PATH), 207)
    accepted(send(sender))


def test_a_suspended_client_is_113(shop):
    shop.client.status = "suspended"
    shop.client.save()
    assert_code(send(shop), 113)
    assert_code(post(shop, BALANCE_PATH), 113)
    nothing_sent(shop)


def test_the_keys_ip_allowlist_applies(shop):
    shop.api.api_key.allowed_ips = ["10.1.2.0/24"]
    shop.api.api_key.save()
    assert_code(send(shop), 207)
    nothing_sent(shop)


def test_each_client_sees_only_its_own_balance(make_shop):
    rich, poor = make_shop(balance="100"), make_shop(balance="0.2106")  # exactly 3 French premium SMS
    assert post(rich, BALANCE_PATH).content.endswith(
        b'<octopush><error_code>000</error_code><balance type="FR">1424</balance>'
        b'<balance type="XXX">0</balance></octopush>'
    )
    assert [b.text for b in document(post(poor, BALANCE_PATH)).findall("balance")] == ["3", "0"]


def test_a_client_without_a_wallet_has_no_credit(make_api):
    api = make_api()
    client = APIClient()
    fields = {"user_login": str(api.tenant.pk), "api_key": api.raw_key}
    assert_code(client.post(BALANCE_PATH, urlencode(fields), content_type="application/x-www-form-urlencoded"), 104)
    body = urlencode({**fields, "sms_text": "Hi", "sms_recipients": UG, "sms_type": "FR"})
    assert_code(client.post(SMS_PATH, body, content_type="application/x-www-form-urlencoded"), 104)


# --- sending -------------------------------------------------------------------------------------


def test_the_answer_is_octopushs_xml_with_exact_numbers(shop):
    with time_machine.travel(DAYTIME, tick=False):
        response = send(shop, sms_recipients=f"{UG},{UG2},12")
    accepted(response)
    broadcast = Broadcast.objects.get()
    assert response.content.decode() == (
        "<?xml version='1.0' encoding='utf-8'?>\n<octopush><error_code>000</error_code>"
        f"<cost>0.0188</cost><balance>99.9812</balance><ticket>sms_{broadcast.pk.hex}</ticket>"
        f"<sending_date>{int(DAYTIME.timestamp())}</sending_date><number_of_sendings>2</number_of_sendings>"
        "<currency_code>USD</currency_code><successs>"
        f"<success><recipient>{UG}</recipient><country_code>UG</country_code><cost>0.0094</cost>"
        "<sms_needed>1</sms_needed></success>"
        f"<success><recipient>{UG2}</recipient><country_code>UG</country_code><cost>0.0094</cost>"
        "<sms_needed>1</sms_needed></success>"
        "</successs><failures><failure><recipient>12</recipient><error_code>117</error_code></failure></failures>"
        "</octopush>"
    )
    assert shop.refresh().available == Decimal("99.981200")


def test_every_field_maps_onto_the_native_create(shop, daytime):
    RouteFactory(country_code="UG", currency="USD", price_per_segment=Decimal("0.005"), tier="low_cost")
    SenderFactory(client=shop.client, sender="Shop")
    root = accepted(
        send(
            shop,
            sms_text="Hi {prenom} {nom} ({first_name}), {ch1}/{ch2}/{ch3}",
            sms_recipients=f"{UG}, {UG2}",
            recipients_first_names="Axelle,John",
            recipients_last_names="Durand, Smith",
            sms_fields_1="a1,b1",
            sms_fields_2=",b2",
            sms_fields_3="a3,",
            sms_type="xxx",
            sms_sender="Shop",
            with_replies="1",
            transactional="1",
            msisdn_sender="0",
        )
    )
    broadcast = Broadcast.objects.get()
    assert (broadcast.tier, broadcast.purpose, broadcast.sender, broadcast.with_replies) == (
        "low_cost",
        "transactional",
        "Shop",
        True,
    )
    assert broadcast.audience["recipients"] == [
        {
            "address": UG,
            "variables": {
                "prenom": "Axelle",
                "first_name": "Axelle",
                "nom": "Durand",
                "last_name": "Durand",
                "ch1": "a1",
                "ch3": "a3",
            },
        },
        {
            "address": UG2,
            "variables": {
                "prenom": "John",
                "first_name": "John",
                "nom": "Smith",
                "last_name": "Smith",
                "ch1": "b1",
                "ch2": "b2",
            },
        },
    ]
    assert sorted(Message.objects.values_list("text", flat=True)) == [
        "Hi Axelle Durand (Axelle), a1//a3",
        "Hi John Smith (John), b1/b2/",
    ]
    assert successes(root) == [(UG, "UG", "0.005", "1"), (UG2, "UG", "0.005", "1")]
    assert root.findtext("cost") == "0.01"


@pytest.mark.parametrize(
    ("sms_type", "tier"),
    [("XXX", "low_cost"), ("FR", "premium"), ("WWW", "premium"), ("fr", "premium"), (" www ", "premium")],
)
def test_sms_type_is_the_tier(shop, daytime, sms_type, tier):
    RouteFactory(country_code="UG", currency="USD", price_per_segment=Decimal("0.005"), tier="low_cost")
    accepted(send(shop, sms_type=sms_type))
    assert Broadcast.objects.get().tier == tier


@pytest.mark.parametrize("sms_type", [None, "", "PREMIUM", "sms_premium"])
def test_no_known_sms_type_is_112(shop, sms_type):
    assert_code(send(shop, sms_type=sms_type), 112)
    nothing_sent(shop)


def test_skipped_recipients_are_failures_with_their_code(shop, daytime):
    ContactFactory(client=shop.client, phone=UG2, opted_out=True, opted_out_at=timezone.now())
    root = accepted(send(shop, sms_recipients=f"{UG},{UG2},{DE},+80012345678,hello<&>\x01,{UG}"))
    assert successes(root) == [(UG, "UG", "0.0094", "1")]
    assert failures(root) == [
        ("hello<&>", "117"),  # invalid (the control character, which XML cannot carry, is dropped)
        (UG2, "209"),  # opted out: "You are not allowed to send SMS messages to this user."
        (DE, "151"),  # no route serves Germany
        ("+80012345678", "150"),  # no country at all
    ]
    broadcast = Broadcast.objects.get()
    assert (broadcast.total_recipients, broadcast.skipped_opted_out, broadcast.skipped_unroutable) == (1, 1, 2)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"sms_text": None}, 107),
        ({"sms_text": "   "}, 107),
        ({"sms_text": "x" * 1300}, 102),  # longer than Herald's 1,224 characters
        ({"sms_recipients": None}, 110),
        ({"sms_recipients": ""}, 103),
        ({"sms_recipients": " , "}, 103),
        ({"sms_recipients": ",".join([UG] * 10_001)}, 103),  # Herald's 10,000 a request
        ({"recipients_first_names": "Axelle"}, 115),  # one name for two recipients
        ({"sms_fields_2": "a,b,c"}, 115),
        ({"sms_recipients": "hello,+1"}, 117),
        ({"sms_recipients": DE}, 151),
        ({"sms_recipients": "+80012345678"}, 150),
        ({"sms_type": "XXX"}, 152),  # Uganda has a premium route only
        ({"sms_recipients": FR, "sms_text": "Promo -20%"}, 121),
        ({"sms_sender": "NotMine"}, 106),
        ({"sms_sender": "No Spaces!"}, 106),
        ({"sms_mode": "2"}, 125),  # no sending_date
        ({"sms_mode": "2", "sending_date": "tomorrow"}, 125),
        ({"sms_mode": "3"}, 125),
        ({"sms_mode": "2", "sending_date": str(int(time.time()) + 91 * 86400)}, 125),  # beyond 90 days
        ({"request_mode": "test"}, 125),  # never sent for real on a doubt
    ],
)
def test_bad_input_gets_octopushs_code_and_changes_nothing(shop, daytime, fields, code):
    assert_code(send(shop, **fields), code)
    nothing_sent(shop)


def test_too_little_credit_is_104(make_shop, daytime):
    shop = make_shop(balance="0.01")
    assert_code(send(shop, sms_recipients=f"{UG},{UG2},{FR}", sms_text="Promo STOP au 36180"), 104)
    nothing_sent(shop, balance="0.01")


def test_a_transactional_send_needs_no_stop_mention(shop, daytime):
    root = accepted(send(shop, sms_recipients=FR, sms_text="Your code is 1234", transactional="1"))
    assert root.findtext("cost") == "0.0702"  # 0.065 EUR × 1.08


@pytest.mark.parametrize(
    ("sms_type", "sender", "kept"),
    [
        ("FR", "CampagneSMS", ""),  # the package's default, never chosen: Herald's default sender
        ("FR", "Herald", "Herald"),
        ("XXX", "NotMine", ""),  # Octopush ignores the sender of low-cost SMS
        ("XXX", "Bad sender!", ""),
        ("XXX", "Herald", "Herald"),  # unless it is registered here
        ("FR", "", ""),
    ],
)
def test_the_sender(shop, daytime, sms_type, sender, kept):
    RouteFactory(country_code="UG", currency="USD", price_per_segment=Decimal("0.005"), tier="low_cost")
    accepted(send(shop, sms_type=sms_type, sms_sender=sender))
    assert Broadcast.objects.get().sender == kept


def test_a_registered_campagnesms_is_kept(shop, daytime):
    SenderFactory(client=shop.client, sender="CampagneSMS")
    accepted(send(shop))
    assert Broadcast.objects.get().sender == "CampagneSMS"


def test_a_sender_of_another_client_is_refused(make_shop, daytime):
    mine, theirs = make_shop(), make_shop()
    SenderFactory(client=theirs.client, sender="Theirs")
    assert_code(send(mine, sms_sender="Theirs"), 106)


# --- sms_mode 2 ----------------------------------------------------------------------------------


def test_a_deferred_send_two_minutes_ahead_is_scheduled_then(shop, daytime):
    at = (timezone.now() + timedelta(minutes=2)).replace(microsecond=0)
    root = accepted(send(shop, sms_mode="2", sending_date=str(int(at.timestamp()))))
    broadcast = Broadcast.objects.get()
    assert (broadcast.schedule_mode, broadcast.status, broadcast.scheduled_at) == ("scheduled", "scheduled", at)
    assert root.findtext("sending_date") == str(int(at.timestamp()))
    assert shop.refresh().reserved == broadcast.estimated_cost


def test_a_past_deferred_date_or_mode_1_sends_now(shop, daytime):
    past = str(int(time.time()) - 3600)
    for fields in ({"sms_mode": "2", "sending_date": past}, {"sms_mode": "1", "sending_date": past}, {"sms_mode": ""}):
        accepted(send(shop, **fields))
    assert set(Broadcast.objects.values_list("schedule_mode", "scheduled_at")) == {("now", None)}


# --- request_mode simu ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["simu", "SIMU"])
def test_a_simulation_answers_in_full_and_stores_sends_and_charges_nothing(shop, daytime, mode):
    root = accepted(send(shop, request_mode=mode, sms_recipients=f"{UG},12"))
    assert successes(root) == [(UG, "UG", "0.0094", "1")]
    assert failures(root) == [("12", "117")]
    assert (root.findtext("cost"), root.findtext("balance"), root.findtext("number_of_sendings")) == (
        "0.0094",
        "99.9906",
        "1",
    )
    assert (root.findtext("ticket") or "").startswith("sms_")
    nothing_sent(shop)


# --- request_id ----------------------------------------------------------------------------------


def test_a_repeated_request_id_is_120_and_sends_nothing(shop, daytime):
    accepted(send(shop, request_id="frame1"))
    assert_code(send(shop, request_id="frame1", sms_text="Another text"), 120)
    assert Broadcast.objects.count() == 1
    accepted(send(shop, request_id="frame2"))
    accepted(send(shop))  # no request_id: never deduped
    accepted(send(shop))
    assert Broadcast.objects.count() == 4


def test_a_request_id_is_per_client_and_shared_with_api_v1(make_shop, daytime):
    one, two = make_shop(), make_shop()
    accepted(send(one, request_id="frame1"))
    accepted(send(two, request_id="frame1"))
    # One Octopush account, one set of request_ids: API v1 refuses an id the legacy API used.
    api = one.api
    api.credentials(HTTP_API_KEY=api.raw_key, HTTP_API_LOGIN=str(one.client.pk))
    v1 = api.post(
        "/octopush/v1/public/sms-campaign/send",
        {"text": "Hi", "recipients": [{"phone_number": UG}], "request_id": "frame1"},
        format="json",
    )
    assert (v1.status_code, v1.json()["code"]) == (400, 120)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"sms_recipients": FR, "sms_text": "Promo -20%"}, 121),
        ({"sms_sender": "NotMine"}, 106),
        ({"sms_recipients": DE}, 151),
        ({"sms_text": "x" * 1300}, 102),
    ],
)
def test_a_refused_send_does_not_burn_its_request_id(shop, daytime, fields, code):
    assert_code(send(shop, request_id="r1", **fields), code)
    assert not OctopushRequest.objects.exists()
    accepted(send(shop, request_id="r1"))


def test_a_simulation_checks_the_request_id_but_does_not_take_it(shop, daytime):
    accepted(send(shop, request_id="r1", request_mode="simu"))
    assert not OctopushRequest.objects.exists()
    accepted(send(shop, request_id="r1"))
    assert_code(send(shop, request_id="r1", request_mode="simu"), 120)


# --- request_keys / request_sha1 -----------------------------------------------------------------


def test_a_matching_request_sha1_is_accepted_in_any_case(shop, daytime):
    signed = sha1("Hello {prenom}" + f"{UG},{UG2}" + "FR" + "1")  # T, R, Y, M
    accepted(send(shop, request_keys="TRYM", request_sha1=signed))
    accepted(send(shop, request_keys="TRYM", request_sha1=signed.upper()))
    # Letters naming a field not sent (D: sms_date), or no field at all (Z), add nothing.
    accepted(send(shop, request_keys="TZD", request_sha1=sha1("Hello {prenom}")))
    assert Broadcast.objects.count() == 3


def test_every_key_letter_names_the_packages_field(shop, daytime):
    fields = {
        "sms_text": "T",
        "sms_recipients": UG,
        "sms_mode": "1",
        "sms_type": "FR",
        "sms_sender": "Herald",
        "recipients_first_names": "a",
        "recipients_last_names": "b",
        "sms_fields_1": "c",
        "sms_fields_2": "d",
        "sms_fields_3": "e",
        "with_replies": "0",
        "transactional": "0",
        "request_id": "q",
    }
    signed = sha1("".join(fields[name] for name in fields))
    accepted(send(shop, request_keys="TRMYSabcdeWNQ", request_sha1=signed, **fields))


def test_a_missing_request_sha1_is_123_and_a_wrong_one_124(shop, daytime):
    assert_code(send(shop, request_keys="TR"), 123)
    assert_code(send(shop, request_keys="TR", request_sha1=""), 123)
    tampered = sha1("Hello {prenom}" + UG)  # signed for one recipient, sent to two
    assert_code(send(shop, request_keys="TR", request_sha1=tampered), 124)
    assert_code(send(shop, request_keys="TR", request_sha1="not hex"), 124)
    nothing_sent(shop)
    accepted(send(shop, request_keys="", request_sha1="ignored without keys"))


# --- XML, idempotency, limits, schema ------------------------------------------------------------


def test_echoed_values_are_escaped_and_the_answer_always_parses(shop, daytime):
    response = send(shop, sms_recipients=f"{UG},</recipient><x>&amp;\x0b")
    root = accepted(response)
    assert failures(root) == [("</recipient><x>&amp;", "117")]
    assert b"&lt;/recipient&gt;&lt;x&gt;&amp;amp;" in response.content


def test_an_idempotency_key_is_honoured_and_replays_the_same_bytes(shop, daytime):
    body = urlencode({"user_login": str(shop.client.pk), "api_key": shop.api.raw_key, "sms_text": "Hi",
                      "sms_recipients": UG, "sms_type": "FR"})  # fmt: skip
    client = APIClient()
    once = client.post(SMS_PATH, body, content_type="application/x-www-form-urlencoded", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(SMS_PATH, body, content_type="application/x-www-form-urlencoded", HTTP_IDEMPOTENCY_KEY="k-1")
    accepted(once)
    assert again["Idempotent-Replayed"] == "true"
    assert (again.status_code, again.content, again["Content-Type"]) == (200, once.content, XML)
    assert Broadcast.objects.count() == 1


def test_sends_count_against_compat_send_and_a_refusal_is_given_back(shop, daytime, redis_url, settings):
    settings.SEND_RATE_LIMIT = "1/h"  # the native limit is not the one that applies here
    settings.COMPAT_SEND_RATE_LIMIT = "2/h"
    accepted(send(shop))
    assert_code(send(shop, sms_text=""), 107)  # refused (HTTP 200): nothing sent, not counted
    assert_code(send(shop, sms_type="bogus"), 112)
    accepted(send(shop))
    response = send(shop)
    assert_code(response, 429, 429)
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert document(post(shop, BALANCE_PATH)).findtext("error_code") == "000"  # reads: API_RATE_LIMIT


def test_the_balance_counts_against_the_api_limit(shop, redis_url, settings):
    settings.API_RATE_LIMIT = "1/h"
    assert document(post(shop, BALANCE_PATH)).findtext("error_code") == "000"
    response = post(shop, BALANCE_PATH)
    assert_code(response, 429, 429)
    assert response["Retry-After"].isdigit()


def test_the_balance_follows_the_available_credit(shop, daytime):
    RouteFactory(country_code="FR", currency="USD", price_per_segment=Decimal("0.03"), tier="low_cost")
    assert [b.text for b in document(post(shop, BALANCE_PATH)).findall("balance")] == ["1424", "3333"]
    accepted(send(shop, sms_recipients=",".join(f"+2567720000{n:02d}" for n in range(1, 41))))  # 40 × 0.0094
    assert shop.refresh().available == Decimal("99.624000")
    assert [b.text for b in document(post(shop, BALANCE_PATH)).findall("balance")] == ["1419", "3320"]


def test_legacy_paths_are_left_out_of_the_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [p for p in schema["paths"] if "octopush" in p]
