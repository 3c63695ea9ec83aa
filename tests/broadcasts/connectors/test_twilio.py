"""The Twilio backend against a local server speaking Twilio's Messages API over real HTTP.

Callbacks are signed by Twilio's own library (`twilio.request_validator.RequestValidator`), the
oracle for `X-Twilio-Signature`; nothing of httpx is mocked.
"""

from __future__ import annotations

import base64
import email.utils
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.http import HttpRequest, QueryDict
from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

import broadcasts.connectors.http as http_engine
from broadcasts.connectors import REGISTRY, HookRejected, OutboundMessage, StatusUpdate
from broadcasts.connectors.base import HOOK_INBOUND, HOOK_STATUS
from broadcasts.connectors.twilio import EMPTY_TWIML, TwilioConnector
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, Answer, FakeTwilio, running_fake_twilio

PUBLIC = "https://herald.example.com"
CONNECTOR_ID = "5f0c1a2b-0000-4000-8000-000000000001"
STATUS_PATH = f"/hooks/{CONNECTOR_ID}/status/"
INBOUND_PATH = f"/hooks/{CONNECTOR_ID}/inbound/"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
UG = "+256772000001"
OURS = "+15005550006"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with running_fake_twilio() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    http_engine.close_clients()
    yield
    http_engine.close_clients()


def make_connector(
    base_url: str = "https://api.twilio.com", *, channel: str = "sms", token: str = AUTH_TOKEN, **extra: Any
) -> TwilioConnector:
    config = TwilioConnector.validate_config(
        {"account_sid": ACCOUNT_SID, "auth_token": token, "base_url": base_url, **extra}
    )
    # A fresh id per connector: a fresh keep-alive pool, so no test sees another's connections.
    return TwilioConnector(connector_id=str(uuid.uuid4()), name="twilio", channel=channel, config=config)


def outbound(message_id: int = 1, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "id": message_id,
        "to": UG,
        "channel": "sms",
        "sender": OURS,
        "text": "Hello Akello, your code is 4821 ✓",
        "status_url": f"{PUBLIC}{STATUS_PATH}",
    }
    return OutboundMessage(**{**values, **fields})


# --- sending ----------------------------------------------------------------------------------


def test_send_posts_twilio_form_with_basic_auth_and_returns_the_sid(fake_twilio: FakeTwilio) -> None:
    connector = make_connector(fake_twilio.base_url + "/")
    media = ("https://cdn.example.com/a.jpg", "https://cdn.example.com/b.pdf?x=1&y=2")

    [result] = connector.send([outbound(41, attachments=media)])

    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (
        request.headers["authorization"] == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    )
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form == {
        "To": [UG],
        "From": [OURS],
        "Body": ["Hello Akello, your code is 4821 ✓"],
        "StatusCallback": [f"{PUBLIC}{STATUS_PATH}"],
        "MediaUrl": list(media),
    }
    assert [pair.split("=")[0] for pair in request.raw.decode().split("&")] == [
        "To",
        "From",
        "Body",
        "StatusCallback",
        "MediaUrl",
        "MediaUrl",
    ]
    assert result.accepted is True
    assert result.message_id == 41
    assert result.provider_message_id == request.answered["sid"]
    assert result.provider_message_id.startswith("SM")


def test_messaging_service_sid_replaces_from(fake_twilio: FakeTwilio) -> None:
    connector = make_connector(fake_twilio.base_url, messaging_service_sid=SERVICE_SID)

    [result] = connector.send([outbound()])

    [request] = fake_twilio.requests
    assert "From" not in request.form
    assert request.form["MessagingServiceSid"] == [SERVICE_SID]
    assert result.accepted is True


def test_no_status_callback_nor_media_when_there_are_none(fake_twilio: FakeTwilio) -> None:
    make_connector(fake_twilio.base_url).send([outbound(status_url="", attachments=())])

    assert set(fake_twilio.requests[0].form) == {"To", "From", "Body"}


def test_whatsapp_channel_addresses_numbers_as_twilio_whatsapp(fake_twilio: FakeTwilio) -> None:
    connector = make_connector(fake_twilio.base_url, channel="whatsapp")

    connector.send([outbound(channel="whatsapp", sender="whatsapp:+14155238886")])

    form = fake_twilio.requests[0].form
    assert form["To"] == [f"whatsapp:{UG}"]
    assert form["From"] == ["whatsapp:+14155238886"]


def retry_date(seconds: int) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize(
    ("answer", "transient", "error_code", "retry_after", "opt_out"),
    [
        (
            Answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "7"}),
            True,
            "twilio_20429",
            7.0,
            False,
        ),
        (
            Answer(500, {"code": 20500, "message": "Internal Server Error", "status": 500}),
            True,
            "twilio_20500",
            None,
            False,
        ),
        (
            Answer(503, {"code": 20503, "message": "Service Unavailable"}, {"Retry-After": "3"}),
            True,
            "twilio_20503",
            3.0,
            False,
        ),
        (Answer(502, raw=b"<html>Bad Gateway</html>"), True, "twilio_http_502", None, False),
        (
            Answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}),
            False,
            "twilio_21211",
            None,
            False,
        ),
        (
            Answer(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}),
            False,
            "twilio_21610",
            None,
            True,
        ),
        (
            Answer(403, {"code": 21408, "message": "Permission to send an SMS has not been enabled"}),
            False,
            "twilio_21408",
            None,
            False,
        ),
        (
            Answer(400, {"code": "21614", "message": "'To' number is not a valid mobile number"}),
            False,
            "twilio_21614",
            None,
            False,
        ),
        (Answer(404, raw=b"<html>Not Found</html>"), False, "twilio_http_404", None, False),
        (Answer(400, {"code": "<script>", "message": "odd"}), False, "twilio_http_400", None, False),
        (Answer(400, {"code": True}), False, "twilio_http_400", None, False),
    ],
    ids=[
        "429",
        "500",
        "503",
        "502-html",
        "21211",
        "21610-opt-out",
        "21408",
        "code-as-string",
        "404-html",
        "junk-code",
        "bool-code",
    ],
)
def test_errors_are_classified_as_the_table_says(
    fake_twilio: FakeTwilio, answer: Answer, transient: bool, error_code: str, retry_after: float | None, opt_out: bool
) -> None:
    fake_twilio.answer_next(answer)

    [result] = make_connector(fake_twilio.base_url).send([outbound(7)])

    assert (result.message_id, result.accepted) == (7, False)
    assert result.transient is transient
    assert result.error_code == error_code
    assert result.retry_after == retry_after
    assert result.opt_out is opt_out
    assert result.error_message.startswith(f"HTTP {answer.status}")


@pytest.mark.parametrize("answer", [Answer(200, {"status": "queued"}), Answer(201, raw=b"")], ids=["no-sid", "empty"])
def test_a_2xx_without_sid_is_accepted_rather_than_risk_a_second_send(fake_twilio: FakeTwilio, answer: Answer) -> None:
    fake_twilio.answer_next(answer)

    [result] = make_connector(fake_twilio.base_url).send([outbound(7)])

    assert (result.accepted, result.provider_message_id, result.error_code) == (True, None, "")


def test_retry_after_as_an_http_date_is_honoured(fake_twilio: FakeTwilio) -> None:
    fake_twilio.answer_next(Answer(429, {"code": 20429}, {"Retry-After": retry_date(120)}))

    [result] = make_connector(fake_twilio.base_url).send([outbound()])

    assert result.transient is True
    assert result.retry_after is not None
    assert 110 <= result.retry_after <= 121


def test_error_messages_keep_no_phone_numbers(fake_twilio: FakeTwilio) -> None:
    message = f"The 'To' number {UG} is not a valid phone number. From (415) 555-0100 failed."
    fake_twilio.answer_next(Answer(400, {"code": 21211, "message": message}))

    [result] = make_connector(fake_twilio.base_url).send([outbound()])

    assert result.error_code == "twilio_21211"
    assert "772000001" not in result.error_message
    assert "555-0100" not in result.error_message
    assert "is not a valid phone number" in result.error_message


@pytest.mark.parametrize(
    ("token", "base_path", "error_code"),
    [("not-the-token", "", "twilio_20003"), (AUTH_TOKEN, "/wrong-prefix", "twilio_20404")],
    ids=["wrong-auth-token", "wrong-base-url"],
)
def test_real_auth_and_path_errors_from_the_fake_are_permanent(
    fake_twilio: FakeTwilio, token: str, base_path: str, error_code: str
) -> None:
    [result] = make_connector(fake_twilio.base_url + base_path, token=token).send([outbound()])

    assert (result.accepted, result.transient, result.error_code) == (False, False, error_code)


def test_a_timeout_after_the_request_left_is_an_unknown_outcome(fake_twilio: FakeTwilio, settings: Any) -> None:
    """Twilio has no idempotency: a request that left without an answer is never resent."""
    settings.PROVIDER_TIMEOUT = 0.3
    fake_twilio.answer_next(Answer(delay=2.0))

    started = time.monotonic()
    [result] = make_connector(fake_twilio.base_url).send([outbound()])

    assert time.monotonic() - started < 1.5
    assert (result.accepted, result.transient, result.unknown, result.error_code) == (
        False,
        False,
        True,
        "delivery_unknown",
    )


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    [result] = make_connector(f"http://127.0.0.1:{port}").send([outbound()])

    assert (result.accepted, result.transient, result.error_code) == (False, True, "connection_error")


def test_a_batch_is_sent_concurrently_and_every_message_gets_its_own_sid(fake_twilio: FakeTwilio) -> None:
    fake_twilio.answer_always(Answer(delay=0.2))
    batch = [outbound(i, to=f"+2567720{i:05d}", text=f"message {i}") for i in range(1, 41)]

    started = time.monotonic()
    results = make_connector(fake_twilio.base_url).send(batch)
    elapsed = time.monotonic() - started

    assert [r.message_id for r in results] == list(range(1, 41))
    assert all(r.accepted for r in results)
    assert len({r.provider_message_id for r in results}) == 40
    assert sorted(r.form["To"][0] for r in fake_twilio.requests) == sorted(m.to for m in batch)
    assert {r.form["Body"][0] for r in fake_twilio.requests} == {m.text for m in batch}
    assert fake_twilio.max_in_flight > 4
    assert elapsed < 40 * 0.2 / 2  # far below one request after the other (8 s)


# --- configuration ----------------------------------------------------------------------------


def test_config_is_normalized_with_defaults() -> None:
    config = TwilioConnector.validate_config({"account_sid": f" {ACCOUNT_SID} ", "auth_token": AUTH_TOKEN})

    assert config == {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "messaging_service_sid": "",
        "base_url": "https://api.twilio.com",
    }
    assert TwilioConnector.validate_config(config) == config


def test_base_url_loses_its_trailing_slash_and_service_sid_is_kept() -> None:
    config = TwilioConnector.validate_config(
        {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "base_url": "http://127.0.0.1:8025/twilio/",
            "messaging_service_sid": SERVICE_SID,
        }
    )

    assert config["base_url"] == "http://127.0.0.1:8025/twilio"
    assert config["messaging_service_sid"] == SERVICE_SID


GOOD = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}


@pytest.mark.parametrize(
    ("config", "bad_keys"),
    [
        ({"auth_token": AUTH_TOKEN}, {"config.account_sid"}),
        ({"account_sid": ACCOUNT_SID}, {"config.auth_token"}),
        ({}, {"config.account_sid", "config.auth_token"}),
        ({**GOOD, "auth_token": "   "}, {"config.auth_token"}),
        ({**GOOD, "account_sid": 12345}, {"config.account_sid"}),
        ({**GOOD, "account_sid": "SK0123456789abcdef"}, {"config.account_sid"}),
        ({**GOOD, "auth_token": ["x"]}, {"config.auth_token"}),
        ({**GOOD, "messaging_service_sid": "PN123"}, {"config.messaging_service_sid"}),
        ({**GOOD, "messaging_service_sid": 7}, {"config.messaging_service_sid"}),
        ({**GOOD, "base_url": "ftp://api.twilio.com"}, {"config.base_url"}),
        ({**GOOD, "base_url": "api.twilio.com"}, {"config.base_url"}),
        ({**GOOD, "base_url": 443}, {"config.base_url"}),
        ({**GOOD, "from": OURS}, {"config.from"}),
        ({"token": "x", "sid": "y"}, {"config.account_sid", "config.auth_token", "config.sid", "config.token"}),
    ],
)
def test_bad_config_names_every_bad_key(config: dict[str, Any], bad_keys: set[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        TwilioConnector.validate_config(config)

    assert set(caught.value.message_dict) == bad_keys


def test_config_must_be_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        TwilioConnector.validate_config(["account_sid"])  # type: ignore[arg-type]

    assert set(caught.value.message_dict) == {"config"}


def test_masked_config_hides_the_auth_token() -> None:
    config = TwilioConnector.validate_config({**GOOD, "messaging_service_sid": SERVICE_SID})

    masked = TwilioConnector.masked_config(config)

    assert TwilioConnector.secret_keys == frozenset({"auth_token"})
    assert AUTH_TOKEN not in str(masked)
    assert masked["auth_token"] == "••••••••" + AUTH_TOKEN[-4:]
    assert {k: v for k, v in masked.items() if k != "auth_token"} == {
        "account_sid": ACCOUNT_SID,
        "messaging_service_sid": SERVICE_SID,
        "base_url": "https://api.twilio.com",
    }


def test_registered_as_the_twilio_backend() -> None:
    assert REGISTRY["twilio"] is TwilioConnector
    assert TwilioConnector.idempotent is False


# --- callbacks --------------------------------------------------------------------------------


def signed_post(
    path: str, params: dict[str, Any], *, token: str = AUTH_TOKEN, signed_url: str | None = None
) -> HttpRequest:
    """A form post as Twilio makes it, signed by Twilio's own validator."""
    url = signed_url if signed_url is not None else f"{PUBLIC}{path}"
    signature = RequestValidator(token).compute_signature(url, params)
    return RequestFactory().post(
        path,
        urlencode(params, doseq=True),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    """A status callback with every field Twilio sends for an SMS."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": OURS,
        "To": UG,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        **extra,
    }


def inbound_params(sender: str, body: str, sid: str = "SMinbound0001", **extra: str) -> dict[str, str]:
    """An incoming message with the fields Twilio sends."""
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "UG",
        "To": OURS,
        "MessagingServiceSid": SERVICE_SID,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        ("delivered", {}, [StatusUpdate("SM1", "delivered")]),
        ("read", {}, [StatusUpdate("SM1", "read")]),
        ("undelivered", {"ErrorCode": "30003"}, [StatusUpdate("SM1", "failed", error_code="twilio_30003")]),
        ("failed", {"ErrorCode": "30008"}, [StatusUpdate("SM1", "failed", error_code="twilio_30008")]),
        ("failed", {}, [StatusUpdate("SM1", "failed")]),
        ("delivered", {"ErrorCode": ""}, [StatusUpdate("SM1", "delivered")]),
        ("queued", {}, []),
        ("sending", {}, []),
        ("sent", {}, []),
        ("accepted", {}, []),
        ("scheduled", {}, []),
        ("canceled", {}, []),
    ],
)
def test_reports_map_twilio_statuses(status: str, extra: dict[str, str], expected: list[StatusUpdate]) -> None:
    request = signed_post(STATUS_PATH, status_params("SM1", status, **extra))

    result = make_connector().handle_hook(request, kind=HOOK_STATUS, public_url=f"{PUBLIC}{STATUS_PATH}")

    assert result.updates == expected
    assert result.inbound == []
    assert result.response is None


def test_a_report_on_the_inbound_url_is_still_a_report() -> None:
    request = signed_post(INBOUND_PATH, status_params("SM9", "delivered"))

    result = make_connector().handle_hook(request, kind=HOOK_INBOUND, public_url=f"{PUBLIC}{INBOUND_PATH}")

    assert result.updates == [StatusUpdate("SM9", "delivered")]
    assert result.inbound == []


@pytest.mark.parametrize(("kind", "path"), [(HOOK_INBOUND, INBOUND_PATH), (HOOK_STATUS, STATUS_PATH)])
def test_inbound_sms_becomes_a_tel_message_answered_with_empty_twiml(kind: str, path: str) -> None:
    request = signed_post(path, inbound_params(UG, "STOP please — ça suffit", sid="SMabc"))

    result = make_connector().handle_hook(request, kind=kind, public_url=f"{PUBLIC}{path}")

    assert result.updates == []
    [message] = result.inbound
    assert message.urn == f"tel:{UG}"
    assert message.text == "STOP please — ça suffit"
    assert message.provider_message_id == "SMabc"
    assert message.to == OURS
    assert result.response is not None
    assert result.response.status_code == 200
    assert result.response["Content-Type"].startswith("text/xml")
    assert result.response.content.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response/>' == EMPTY_TWIML


def test_inbound_whatsapp_keeps_its_whatsapp_urn() -> None:
    params = inbound_params("whatsapp:+14155238886", "hi", To="whatsapp:+15005550006", ProfileName="Akello")

    result = make_connector().handle_hook(
        signed_post(INBOUND_PATH, params), kind=HOOK_INBOUND, public_url=f"{PUBLIC}{INBOUND_PATH}"
    )

    [message] = result.inbound
    assert message.urn == "whatsapp:+14155238886"
    assert message.to == "whatsapp:+15005550006"


def test_an_empty_body_with_media_is_still_inbound() -> None:
    params = inbound_params(UG, "", NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1")

    result = make_connector().handle_hook(
        signed_post(INBOUND_PATH, params), kind=HOOK_INBOUND, public_url=f"{PUBLIC}{INBOUND_PATH}"
    )

    assert [(m.urn, m.text) for m in result.inbound] == [(f"tel:{UG}", "")]


def test_inbound_carrying_message_status_received_is_inbound() -> None:
    params = inbound_params(UG, "YES", MessageStatus="received")

    result = make_connector().handle_hook(
        signed_post(INBOUND_PATH, params), kind=HOOK_INBOUND, public_url=f"{PUBLIC}{INBOUND_PATH}"
    )

    assert result.updates == []
    assert [m.text for m in result.inbound] == ["YES"]


def test_a_post_of_neither_kind_yields_nothing() -> None:
    request = signed_post(STATUS_PATH, {"AccountSid": ACCOUNT_SID, "MessageSid": "SM1"})

    result = make_connector().handle_hook(request, kind=HOOK_STATUS, public_url=f"{PUBLIC}{STATUS_PATH}")

    assert (result.updates, result.inbound, result.response) == ([], [], None)


def test_a_stream_of_callbacks_is_each_applied() -> None:
    # Twilio posts one callback per request: a burst of them is many requests, each parsed alone.
    connector = make_connector()
    statuses = ["delivered", "failed", "read", "sent"] * 25
    updates: list[StatusUpdate] = []
    for n, status in enumerate(statuses):
        request = signed_post(STATUS_PATH, status_params(f"SM{n}", status, ErrorCode="30005"))
        updates += connector.handle_hook(request, kind=HOOK_STATUS, public_url=f"{PUBLIC}{STATUS_PATH}").updates

    assert len(updates) == 75
    assert [u.provider_message_id for u in updates if u.status == "failed"] == [f"SM{n}" for n in range(1, 100, 4)]
    assert {u.error_code for u in updates if u.status == "failed"} == {"twilio_30005"}


def _hook(request: HttpRequest, path: str = STATUS_PATH, token: str = AUTH_TOKEN) -> None:
    make_connector(token=token).handle_hook(request, kind=HOOK_STATUS, public_url=f"{PUBLIC}{path}")


def test_signed_with_another_token_is_403() -> None:
    request = signed_post(STATUS_PATH, status_params("SM1", "delivered"), token="someone-elses-token")

    with pytest.raises(HookRejected) as caught:
        _hook(request)

    assert caught.value.status == 403


def test_missing_signature_is_403() -> None:
    request = RequestFactory().post(
        STATUS_PATH,
        urlencode(status_params("SM1", "delivered")),
        content_type="application/x-www-form-urlencoded",
    )

    with pytest.raises(HookRejected) as caught:
        _hook(request)

    assert caught.value.status == 403


def test_a_tampered_field_is_403() -> None:
    params = status_params("SM1", "failed", ErrorCode="30003")
    genuine = signed_post(STATUS_PATH, params)
    forged = RequestFactory().post(
        STATUS_PATH,
        urlencode({**params, "MessageSid": "SM2"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=genuine.headers["X-Twilio-Signature"],
    )

    with pytest.raises(HookRejected) as caught:
        _hook(forged)

    assert caught.value.status == 403


def test_a_signature_for_another_url_is_403() -> None:
    request = signed_post(STATUS_PATH, status_params("SM1", "delivered"), signed_url=f"{PUBLIC}{INBOUND_PATH}")

    with pytest.raises(HookRejected) as caught:
        _hook(request)

    assert caught.value.status == 403


def test_a_connector_without_a_token_accepts_nothing() -> None:
    connector = TwilioConnector(
        connector_id=CONNECTOR_ID, name="t", channel="sms", config={"account_sid": ACCOUNT_SID, "auth_token": ""}
    )
    request = signed_post(STATUS_PATH, status_params("SM1", "delivered"), token="")

    with pytest.raises(HookRejected) as caught:
        connector.handle_hook(request, kind=HOOK_STATUS, public_url=f"{PUBLIC}{STATUS_PATH}")

    assert caught.value.status == 403


@pytest.mark.parametrize("method", ["get", "put"])
def test_anything_but_a_form_post_is_403(method: str) -> None:
    url = f"{PUBLIC}{STATUS_PATH}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    request = getattr(RequestFactory(), method)(STATUS_PATH, HTTP_X_TWILIO_SIGNATURE=signature)

    with pytest.raises(HookRejected) as caught:
        _hook(request)

    assert caught.value.status == 403


def test_a_multipart_form_post_is_read_like_a_urlencoded_one() -> None:
    params = status_params("SM5", "delivered")
    url = f"{PUBLIC}{STATUS_PATH}"
    request = RequestFactory().post(
        STATUS_PATH, params, HTTP_X_TWILIO_SIGNATURE=RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    )

    result = make_connector().handle_hook(request, kind=HOOK_STATUS, public_url=url)

    assert result.updates == [StatusUpdate("SM5", "delivered")]


def test_a_broken_multipart_body_is_403() -> None:
    request = RequestFactory().post(
        STATUS_PATH,
        b"--x\r\nnot a part",
        content_type="multipart/form-data",  # no boundary
        HTTP_X_TWILIO_SIGNATURE="c2lnbmF0dXJl",
    )

    with pytest.raises(HookRejected) as caught:
        _hook(request)

    assert caught.value.status == 403


def test_a_json_body_is_403() -> None:
    url = f"{PUBLIC}{STATUS_PATH}"
    request = RequestFactory().post(
        STATUS_PATH,
        {"MessageSid": "SM1", "MessageStatus": "delivered"},
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=RequestValidator(AUTH_TOKEN).compute_signature(url, {}),
    )

    with pytest.raises(HookRejected) as caught:
        _hook(request)

    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("public_url", "signed_url"),
    [
        ("https://herald.example.com/hooks/x/status/", "https://herald.example.com/hooks/x/status/"),
        ("https://herald.example.com/hooks/x/status/", "https://herald.example.com:443/hooks/x/status/"),
        ("https://herald.example.com:443/hooks/x/status/", "https://herald.example.com/hooks/x/status/"),
        ("http://127.0.0.1:8000/hooks/x/status/", "http://127.0.0.1/hooks/x/status/"),
        (
            "https://herald.example.com/hooks/x/status/?tenant=a&b=c%20d",
            "https://herald.example.com/hooks/x/status/?tenant=a&b=c%20d",
        ),
    ],
)
def test_every_request_twilios_validator_accepts_is_accepted(public_url: str, signed_url: str) -> None:
    params = {
        **status_params("SM1", "undelivered", ErrorCode="30006"),
        "Empty": "",
        "Unicode": "Ünïcødé — ✓ +256 & = ?",
    }
    request = signed_post("/hooks/x/status/", params, signed_url=signed_url)
    signature = request.headers["X-Twilio-Signature"]
    assert RequestValidator(AUTH_TOKEN).validate(public_url, request.POST, signature) is True

    result = make_connector().handle_hook(request, kind=HOOK_STATUS, public_url=public_url)

    assert result.updates == [StatusUpdate("SM1", "failed", error_code="twilio_30006")]


def test_repeated_names_are_signed_as_twilios_validator_signs_them() -> None:
    body = urlencode([*status_params("SM1", "delivered").items(), ("Tag", "b"), ("Tag", "a"), ("Tag", "b")])
    form = QueryDict(body)
    url = f"{PUBLIC}{STATUS_PATH}"
    request = RequestFactory().post(
        STATUS_PATH,
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=RequestValidator(AUTH_TOKEN).compute_signature(url, form),
    )

    result = make_connector().handle_hook(request, kind=HOOK_STATUS, public_url=url)

    assert result.updates == [StatusUpdate("SM1", "delivered")]


_names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
_values = st.text(st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=100, deadline=None)
@given(params=st.dictionaries(_names, _values, max_size=8), path=st.text("abcxyz/-_", max_size=12))
def test_signature_is_the_one_twilios_validator_computes(params: dict[str, str], path: str) -> None:
    url = f"{PUBLIC}/hooks/{path}"

    assert make_connector().expected_signature(url, params) == RequestValidator(AUTH_TOKEN).compute_signature(
        url, params
    )
