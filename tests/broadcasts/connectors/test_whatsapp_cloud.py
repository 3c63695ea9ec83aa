"""The whatsapp_cloud backend against a local Graph API over real HTTP, and Meta's signed callbacks.

Callback signatures are computed exactly as Meta documents X-Hub-Signature-256: the hex HMAC-SHA256
of the raw request body under the app secret, prefixed `sha256=`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from broadcasts.connectors import HOOK_INBOUND, HOOK_STATUS, REGISTRY, HookRejected, InboundMessage, StatusUpdate
from broadcasts.connectors import http as http_engine
from broadcasts.connectors.base import OutboundMessage
from broadcasts.connectors.whatsapp_cloud import WhatsappCloudConnector, whatsapp_language
from tests.fakes.whatsapp_cloud import FakeWhatsApp, running

TOKEN = "EAAGm0PX4ZCpsBAtest-access-token"
APP_SECRET = "0f9e8d7c6b5a49382716afbecd012345"
VERIFY_TOKEN = "herald-verify-7c1e"
PHONE_NUMBER_ID = "106540352242922"
HOOK_PATH = "/hooks/3f1c/status/"
T0 = 1_764_000_000  # 2025-11-24T16:00:00Z
AT0 = datetime.fromtimestamp(T0, tz=UTC)


def make_config(**overrides: Any) -> dict[str, Any]:
    config = {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def make_connector(**overrides: Any) -> WhatsappCloudConnector:
    config = WhatsappCloudConnector.validate_config(make_config(**overrides))
    # A fresh connector id per connector: a fresh keep-alive client, built with the current timeouts.
    return WhatsappCloudConnector(connector_id=f"wa-{uuid.uuid4()}", name="wa", channel="whatsapp", config=config)


def message(id: int = 1, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "to": "+256772000001",
        "channel": "whatsapp",
        "sender": PHONE_NUMBER_ID,
        "text": "Hi Ada, order 42 ships today.",
        "template": "order_update",
        "language": "eng",
        "parameters": ("Ada", "42"),
    }
    values.update(fields)
    return OutboundMessage(id=id, **values)


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    yield from running(access_token=TOKEN, phone_number_id=PHONE_NUMBER_ID)


@pytest.fixture
def connector(fake: FakeWhatsApp) -> WhatsappCloudConnector:
    return make_connector(base_url=fake.base_url + "/")


def test_registered_under_its_backend_name() -> None:
    assert REGISTRY["whatsapp_cloud"] is WhatsappCloudConnector


# Sending: the wire format.


def test_send_posts_the_template_with_its_body_parameters(fake: FakeWhatsApp, connector: WhatsappCloudConnector):
    [result] = connector.send([message(7)])

    assert result.accepted is True
    assert result.message_id == 7
    assert result.provider_message_id == "wamid.HBgM000001"
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "messaging_product": "whatsapp",
        "to": "256772000001",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "42"}]}
            ],
        },
    }


def test_send_without_parameters_has_no_components(fake: FakeWhatsApp, connector: WhatsappCloudConnector) -> None:
    [result] = connector.send([message(parameters=())])

    assert result.accepted is True
    assert fake.requests[0].body["template"] == {"name": "order_update", "language": {"code": "en"}}


def test_send_uses_the_configured_api_version(fake: FakeWhatsApp) -> None:
    connector = make_connector(base_url=fake.base_url, api_version="v19.0")

    [result] = connector.send([message()])

    assert result.accepted is True
    assert fake.requests[0].path == f"/v19.0/{PHONE_NUMBER_ID}/messages"


def test_a_message_without_a_template_is_sent_as_free_text(fake: FakeWhatsApp, connector: WhatsappCloudConnector):
    """SPEC §14: WhatsApp free text is a `type: text` message carrying the rendered text as its body."""
    [result] = connector.send([message(9, template="", language="", parameters=(), text="Hi Ada, still there?")])

    assert (result.message_id, result.accepted, result.provider_message_id) == (9, True, "wamid.HBgM000001")
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", f"/v21.0/{PHONE_NUMBER_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.body == {
        "messaging_product": "whatsapp",
        "to": "256772000001",
        "type": "text",
        "text": {"body": "Hi Ada, still there?"},
    }


def test_free_text_needs_no_whatsapp_language_code(fake: FakeWhatsApp, connector: WhatsappCloudConnector) -> None:
    """A language without a WhatsApp code refuses a template, never free text (which has no language)."""
    [result] = connector.send([message(template="", language="xxq", text="Salut")])

    assert result.accepted is True
    assert fake.requests[0].body["text"] == {"body": "Salut"}


def test_a_batch_mixes_templates_and_free_text_each_in_its_own_shape(
    fake: FakeWhatsApp, connector: WhatsappCloudConnector
) -> None:
    results = connector.send([message(1), message(2, template="", text="Thanks for writing!")])

    assert [r.accepted for r in results] == [True, True]
    kinds = {r.body["type"]: r.body for r in fake.requests}
    assert set(kinds) == {"template", "text"}
    assert "text" not in kinds["template"]
    assert "template" not in kinds["text"]
    assert kinds["text"]["text"] == {"body": "Thanks for writing!"}


def test_free_text_errors_are_classified_like_templates(fake: FakeWhatsApp, connector: WhatsappCloudConnector):
    """131047 (re-engagement: outside the window by Meta's clock) is a permanent whatsapp_ error."""
    fake.error(400, 131047, "Re-engagement message")
    [result] = connector.send([message(template="", text="Hi")])

    assert (result.accepted, result.transient, result.error_code) == (False, False, "whatsapp_131047")


@pytest.mark.parametrize(
    ("herald", "whatsapp"),
    [
        ("eng", "en"),
        ("fra", "fr"),
        ("por", "pt_BR"),
        ("spa", "es"),
        ("swa", "sw"),
        ("zho", "zh_CN"),
        ("kin", "rw_RW"),
        ("fil", "fil"),  # no ISO 639-1 code: WhatsApp uses the three letters
        ("ger", "de"),  # ISO 639-2/B spelling
        ("ENG", "en"),
    ],
)
def test_template_language_is_sent_as_whatsapp_code(fake: FakeWhatsApp, herald: str, whatsapp: str) -> None:
    connector = make_connector(base_url=fake.base_url)

    [result] = connector.send([message(language=herald)])

    assert result.accepted is True
    assert fake.requests[0].body["template"]["language"] == {"code": whatsapp}


@pytest.mark.parametrize("code", ["", "xxq", "english", "q"])
def test_unknown_language_has_no_whatsapp_code(code: str) -> None:
    assert whatsapp_language(code) is None


@pytest.mark.parametrize(
    ("fields", "error_code"),
    [
        ({"template": "", "parameters": (), "text": " "}, "whatsapp_text_required"),
        ({"language": "xxq"}, "whatsapp_language_unsupported"),
        ({"to": "+"}, "whatsapp_invalid_recipient"),
    ],
)
def test_unsendable_message_fails_permanently_without_a_call(
    fake: FakeWhatsApp, connector: WhatsappCloudConnector, fields: dict[str, Any], error_code: str
) -> None:
    [result] = connector.send([message(3, **fields)])

    assert (result.message_id, result.accepted, result.transient, result.error_code) == (3, False, False, error_code)
    assert fake.requests == []


def test_batch_keeps_order_when_some_are_refused_before_sending(
    fake: FakeWhatsApp, connector: WhatsappCloudConnector
) -> None:
    batch = [message(1), message(2, template="", text=""), message(3), message(4, language="zzq")]

    results = connector.send(batch)

    assert [r.message_id for r in results] == [1, 2, 3, 4]
    assert [r.accepted for r in results] == [True, False, True, False]
    assert [r.error_code for r in results] == ["", "whatsapp_text_required", "", "whatsapp_language_unsupported"]
    assert len(fake.requests) == 2


def test_many_messages_in_one_batch_are_sent_concurrently(
    fake: FakeWhatsApp, connector: WhatsappCloudConnector
) -> None:
    for _ in range(24):
        fake.answer(delay=0.2)
    batch = [message(i, to=f"+2567720000{i:02d}") for i in range(1, 25)]

    started = time.monotonic()
    results = connector.send(batch)
    elapsed = time.monotonic() - started

    assert [r.message_id for r in results] == list(range(1, 25))
    assert all(r.accepted for r in results)
    assert len({r.provider_message_id for r in results}) == 24
    assert sorted(r.body["to"] for r in fake.requests) == [f"2567720000{i:02d}" for i in range(1, 25)]
    assert fake.max_in_flight > 4
    assert elapsed < 24 * 0.2 / 2  # one after the other would take 4.8 s


# Sending: how answers are classified.


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (400, 4, True),  # application request limit
        (400, 80007, True),  # WABA rate limit
        (400, 130429, True),  # throughput reached
        (429, 130429, True),
        (400, 131048, True),  # spam rate limit
        (400, 131056, True),  # pair rate limit
        (500, 1, True),
        (503, 2, True),
        (400, 100, False),  # invalid parameter
        (400, 131026, False),  # undeliverable
        (400, 131049, False),  # marketing limit per user: Meta says not to retry soon
        (400, 132001, False),  # template does not exist
        (401, 190, False),  # expired token
        (403, 10, False),  # permission denied
    ],
)
def test_graph_errors_are_classified_by_status_and_code(
    fake: FakeWhatsApp, connector: WhatsappCloudConnector, status: int, code: int, transient: bool
) -> None:
    fake.error(status, code, message=f"(#{code}) something")

    [result] = connector.send([message(5)])

    assert result.accepted is False
    assert result.transient is transient
    assert result.error_code == f"whatsapp_{code}"
    assert result.error_message == f"(#{code}) something"
    assert result.opt_out is False


@pytest.mark.parametrize(("status", "transient"), [(502, True), (429, True), (404, False)])
def test_answers_without_a_graph_error_are_classified_by_status(
    fake: FakeWhatsApp, connector: WhatsappCloudConnector, status: int, transient: bool
) -> None:
    fake.answer(status, b"<html>upstream says no</html>")

    [result] = connector.send([message()])

    assert (result.accepted, result.transient, result.error_code) == (False, transient, f"whatsapp_http_{status}")


def test_a_wrong_access_token_is_permanent(fake: FakeWhatsApp) -> None:
    connector = make_connector(base_url=fake.base_url, access_token="EAAG-revoked-token")

    [result] = connector.send([message()])

    assert fake.requests[0].headers["authorization"] == "Bearer EAAG-revoked-token"
    assert (result.accepted, result.transient, result.error_code) == (False, False, "whatsapp_190")


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0", 0.0), (None, None)])
def test_retry_after_is_honoured(
    fake: FakeWhatsApp, connector: WhatsappCloudConnector, header: str | None, seconds: float | None
) -> None:
    fake.error(429, 130429, headers={"Retry-After": header} if header is not None else None)

    [result] = connector.send([message()])

    assert (result.transient, result.retry_after) == (True, seconds)


def test_retry_after_as_an_http_date(fake: FakeWhatsApp, connector: WhatsappCloudConnector) -> None:
    fake.error(503, 2, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})

    [result] = connector.send([message()])

    assert result.transient is True
    assert result.retry_after is not None
    assert result.retry_after > 365 * 24 * 3600


def test_accepted_without_an_id_is_still_accepted(fake: FakeWhatsApp, connector: WhatsappCloudConnector) -> None:
    fake.answer(200, {"messaging_product": "whatsapp"})

    [result] = connector.send([message()])

    assert (result.accepted, result.provider_message_id) == (True, None)


def test_a_provider_slower_than_the_deadline_is_an_unknown_outcome(fake: FakeWhatsApp, settings: Any) -> None:
    settings.PROVIDER_TIMEOUT = 0.3
    connector = make_connector(base_url=fake.base_url)  # its client is made now, with the short timeout
    fake.answer(delay=1.5)

    started = time.monotonic()
    [result] = connector.send([message()])

    assert time.monotonic() - started < 1.2
    assert (result.accepted, result.transient, result.unknown, result.error_code) == (
        False,
        False,
        True,
        "delivery_unknown",
    )
    http_engine.close_clients()


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    connector = make_connector(base_url=f"http://127.0.0.1:{port}")

    [result] = connector.send([message()])

    assert (result.accepted, result.transient, result.error_code) == (False, True, "connection_error")


# Config.


def test_config_defaults_and_normalization() -> None:
    config = WhatsappCloudConnector.validate_config(make_config(base_url="https://graph.example.com/ "))

    assert config == {
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "api_version": "v21.0",
        "base_url": "https://graph.example.com",
    }
    assert WhatsappCloudConnector.validate_config(make_config())["base_url"] == "https://graph.facebook.com"


@pytest.mark.parametrize(
    ("overrides", "bad_key"),
    [
        ({"phone_number_id": None}, "phone_number_id"),
        ({"access_token": None}, "access_token"),
        ({"app_secret": ""}, "app_secret"),
        ({"verify_token": None}, "verify_token"),
        ({"phone_number_id": 106540352242922}, "phone_number_id"),
        ({"phone_number_id": "+256 772"}, "phone_number_id"),
        ({"access_token": ["x"]}, "access_token"),
        ({"api_version": "21.0"}, "api_version"),
        ({"api_version": "v21"}, "api_version"),
        ({"api_version": "latest"}, "api_version"),
        ({"api_version": 21.0}, "api_version"),
        ({"base_url": "graph.facebook.com"}, "base_url"),
        ({"base_url": "ftp://graph.facebook.com"}, "base_url"),
        ({"base_url": "https://graph.facebook.com?x=1"}, "base_url"),
        ({"waba_id": "123"}, "waba_id"),
    ],
)
def test_config_errors_name_the_key(overrides: dict[str, Any], bad_key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WhatsappCloudConnector.validate_config(make_config(**overrides))

    assert list(caught.value.message_dict) == [f"config.{bad_key}"]


def test_config_names_every_bad_key_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        WhatsappCloudConnector.validate_config({"phone_number_id": "abc", "api_version": "21", "access_token": 5})

    assert sorted(caught.value.message_dict) == [
        "config.access_token",
        "config.api_version",
        "config.app_secret",
        "config.phone_number_id",
        "config.verify_token",
    ]


def test_config_must_be_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        WhatsappCloudConnector.validate_config(["phone_number_id"])  # type: ignore[arg-type]

    assert list(caught.value.message_dict) == ["config"]


def test_masked_config_hides_every_secret() -> None:
    config = WhatsappCloudConnector.validate_config(make_config())

    masked = WhatsappCloudConnector.masked_config(config)

    assert WhatsappCloudConnector.secret_keys == {"access_token", "app_secret", "verify_token"}
    for secret in (TOKEN, APP_SECRET, VERIFY_TOKEN):
        assert secret not in json.dumps(masked, ensure_ascii=False)
    assert masked["access_token"] == "••••••••oken"
    assert masked["phone_number_id"] == PHONE_NUMBER_ID
    assert masked["api_version"] == "v21.0"


# Callbacks: verification and authentication.


@pytest.mark.parametrize("kind", [HOOK_STATUS, HOOK_INBOUND])
def test_verification_answers_the_challenge_as_text(kind: str) -> None:
    request = RequestFactory().get(
        HOOK_PATH, {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )

    result = make_connector().handle_hook(request, kind=kind, public_url="https://herald.example.com" + HOOK_PATH)

    assert result.response is not None
    assert result.response.status_code == 200
    assert result.response["Content-Type"] == "text/plain"
    assert result.response.content == b"1158201444"
    assert (result.updates, result.inbound) == ([], [])


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN + "x", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "é", "hub.challenge": "1"},
    ],
)
def test_verification_with_a_wrong_token_is_403(params: dict[str, str]) -> None:
    request = RequestFactory().get(HOOK_PATH, params)

    with pytest.raises(HookRejected) as caught:
        make_connector().handle_hook(request, kind=HOOK_STATUS, public_url=HOOK_PATH)

    assert caught.value.status == 403


def meta_signature(raw_body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def callback(payload: Any, *, signature: str | None = "genuine", raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if signature == "genuine":
        headers["HTTP_X_HUB_SIGNATURE_256"] = meta_signature(body)
    elif signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return RequestFactory().post(HOOK_PATH, data=body, content_type="application/json", **headers)


def change(value: dict[str, Any], phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        **value,
    }
    return {"value": value, "field": "messages"}


def envelope(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": list(changes)}]}


DELIVERED = envelope(
    change({"statuses": [{"id": "wamid.A", "status": "delivered", "timestamp": str(T0), "recipient_id": "256772"}]})
)


def test_genuine_signature_is_accepted() -> None:
    result = make_connector().handle_hook(callback(DELIVERED), kind=HOOK_STATUS, public_url=HOOK_PATH)

    assert result.updates == [StatusUpdate("wamid.A", "delivered", at=AT0)]
    assert result.response is None


def test_signature_is_over_the_raw_body_bytes() -> None:
    # Meta escapes non-ASCII as \\uXXXX: re-serializing the parsed JSON would sign other bytes.
    raw = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
        b'{"metadata":{"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ren\\u00e9e"},'
        b'"wa_id":"33612345678"}],"messages":[{"from":"33612345678","id":"wamid.R","timestamp":"1764000000",'
        b'"type":"text","text":{"body":"Oui, \\u00e0 demain"}}]}}]}]}'
    )

    result = make_connector().handle_hook(callback(None, raw=raw), kind=HOOK_INBOUND, public_url=HOOK_PATH)

    assert result.inbound == [
        InboundMessage(
            urn="whatsapp:+33612345678",
            text="Oui, à demain",
            provider_message_id="wamid.R",
            to=PHONE_NUMBER_ID,
            first_name="Renée",
            received_at=AT0,
        )
    ]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        meta_signature(json.dumps(DELIVERED).encode(), secret="not-the-app-secret"),
        meta_signature(b"{}"),
        "sha1=" + hmac.new(APP_SECRET.encode(), json.dumps(DELIVERED).encode(), hashlib.sha1).hexdigest(),
        meta_signature(json.dumps(DELIVERED).encode()).removeprefix("sha256="),
        "sha256=zz",
    ],
)
def test_missing_or_forged_signature_is_403(signature: str | None) -> None:
    with pytest.raises(HookRejected) as caught:
        make_connector().handle_hook(callback(DELIVERED, signature=signature), kind=HOOK_STATUS, public_url=HOOK_PATH)

    assert caught.value.status == 403


def test_tampered_body_is_403() -> None:
    genuine = meta_signature(json.dumps(DELIVERED).encode())
    tampered = json.dumps(DELIVERED).replace("delivered", "read").encode()

    with pytest.raises(HookRejected) as caught:
        make_connector().handle_hook(callback(None, raw=tampered, signature=genuine), kind=HOOK_STATUS, public_url="")

    assert caught.value.status == 403


def test_uppercase_hex_signature_is_accepted() -> None:
    body = json.dumps(DELIVERED).encode()
    request = callback(None, raw=body, signature=meta_signature(body).upper().replace("SHA256=", "sha256="))

    assert len(make_connector().handle_hook(request, kind=HOOK_STATUS, public_url="").updates) == 1


def test_other_methods_are_refused() -> None:
    request = RequestFactory().put(HOOK_PATH, data=b"{}", content_type="application/json")

    with pytest.raises(HookRejected) as caught:
        make_connector().handle_hook(request, kind=HOOK_STATUS, public_url="")

    assert caught.value.status == 405


def test_signed_but_unreadable_body_is_acknowledged_empty() -> None:
    result = make_connector().handle_hook(callback(None, raw=b"not json"), kind=HOOK_STATUS, public_url="")

    assert (result.updates, result.inbound, result.response) == ([], [], None)


# Callbacks: parsing.


def test_statuses_map_to_updates_in_a_batch() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    change(
                        {
                            "statuses": [
                                {"id": "wamid.S", "status": "sent", "timestamp": str(T0)},
                                {"id": "wamid.D", "status": "delivered", "timestamp": str(T0 + 1)},
                                {"id": "wamid.R", "status": "read", "timestamp": str(T0 + 2)},
                                {
                                    "id": "wamid.F",
                                    "status": "failed",
                                    "timestamp": str(T0 + 3),
                                    "errors": [{"code": 131026, "title": "Message undeliverable"}],
                                },
                            ]
                        }
                    )
                ],
            },
            {
                "id": "2",
                "changes": [
                    change(
                        {
                            "statuses": [
                                {"id": "wamid.F2", "status": "failed", "timestamp": str(T0 + 4)},
                                {"id": "wamid.X", "status": "deleted", "timestamp": str(T0 + 5)},
                                {"id": "wamid.W", "status": "warning", "timestamp": str(T0 + 6)},
                                {"status": "delivered", "timestamp": str(T0)},
                                "garbage",
                            ]
                        }
                    )
                ],
            },
        ],
    }

    result = make_connector().handle_hook(callback(payload), kind=HOOK_STATUS, public_url="")

    assert result.updates == [
        StatusUpdate("wamid.D", "delivered", at=datetime.fromtimestamp(T0 + 1, tz=UTC)),
        StatusUpdate("wamid.R", "read", at=datetime.fromtimestamp(T0 + 2, tz=UTC)),
        StatusUpdate("wamid.F", "failed", error_code="whatsapp_131026", at=datetime.fromtimestamp(T0 + 3, tz=UTC)),
        StatusUpdate("wamid.F2", "failed", error_code="whatsapp_failed", at=datetime.fromtimestamp(T0 + 4, tz=UTC)),
    ]
    assert result.inbound == []


def test_inbound_messages_of_every_kind_in_a_batch() -> None:
    def msg(id: str, sender: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"from": sender, "id": id, "timestamp": str(T0), "type": kind, kind: body}

    payload = envelope(
        change(
            {
                "contacts": [
                    {"profile": {"name": "Ada Obi"}, "wa_id": "256772000001"},
                    {"profile": {"name": "Kato"}, "wa_id": "256772000002"},
                ],
                "messages": [
                    msg("wamid.1", "256772000001", "text", {"body": "STOP"}),
                    msg("wamid.2", "256772000002", "button", {"text": "Yes, confirm", "payload": "CONFIRM"}),
                    msg(
                        "wamid.3",
                        "256772000001",
                        "interactive",
                        {"type": "button_reply", "button_reply": {"id": "b1", "title": "Call me"}},
                    ),
                    msg(
                        "wamid.4",
                        "256772000001",
                        "interactive",
                        {"type": "list_reply", "list_reply": {"id": "l2", "title": "Friday", "description": "pm"}},
                    ),
                    msg("wamid.5", "256772000003", "image", {"id": "media1", "caption": "my receipt"}),
                    msg("wamid.6", "256772000003", "audio", {"id": "media2"}),
                    msg("wamid.7", "256772000001", "reaction", {"message_id": "wamid.HBgM000001", "emoji": "👍"}),
                    msg("wamid.8", "256772000001", "system", {"body": "changed number", "type": "user_changed_number"}),
                    msg("wamid.9", "256772000001", "unsupported", {}),
                ],
            }
        ),
        change(
            {
                "contacts": [{"profile": {"name": "Wanjiru"}, "wa_id": "254712000001"}],
                "messages": [msg("wamid.10", "254712000001", "text", {"body": "hello"})],
            }
        ),
    )

    result = make_connector().handle_hook(callback(payload), kind=HOOK_INBOUND, public_url="")

    def inbound(id: str, sender: str, text: str, name: str) -> InboundMessage:
        return InboundMessage(
            urn=f"whatsapp:+{sender}",
            text=text,
            provider_message_id=id,
            to="15550783881",
            first_name=name,
            received_at=AT0,
        )

    assert result.inbound == [
        inbound("wamid.1", "256772000001", "STOP", "Ada Obi"),
        inbound("wamid.2", "256772000002", "Yes, confirm", "Kato"),
        inbound("wamid.3", "256772000001", "Call me", "Ada Obi"),
        inbound("wamid.4", "256772000001", "Friday", "Ada Obi"),
        inbound("wamid.5", "256772000003", "my receipt", ""),
        inbound("wamid.6", "256772000003", "", ""),
        inbound("wamid.10", "254712000001", "hello", "Wanjiru"),
    ]
    assert result.updates == []


@pytest.mark.parametrize("kind", [HOOK_STATUS, HOOK_INBOUND])
def test_either_hook_path_takes_statuses_and_messages_together(kind: str) -> None:
    payload = envelope(
        change(
            {
                "contacts": [{"profile": {"name": "Ada"}, "wa_id": "256772000001"}],
                "messages": [
                    {
                        "from": "256772000001",
                        "id": "wamid.in",
                        "timestamp": str(T0),
                        "type": "text",
                        "text": {"body": "ok"},
                    }
                ],
            }
        ),
        change({"statuses": [{"id": "wamid.out", "status": "read", "timestamp": str(T0)}]}),
    )

    result = make_connector().handle_hook(callback(payload), kind=kind, public_url="")

    assert result.updates == [StatusUpdate("wamid.out", "read", at=AT0)]
    assert [(m.urn, m.text, m.first_name) for m in result.inbound] == [("whatsapp:+256772000001", "ok", "Ada")]


def test_changes_for_another_phone_number_of_the_app_are_ignored() -> None:
    payload = envelope(
        change({"statuses": [{"id": "wamid.theirs", "status": "delivered", "timestamp": str(T0)}]}, "999000111"),
        change({"statuses": [{"id": "wamid.ours", "status": "delivered", "timestamp": str(T0)}]}),
    )

    result = make_connector().handle_hook(callback(payload), kind=HOOK_STATUS, public_url="")

    assert [u.provider_message_id for u in result.updates] == ["wamid.ours"]


@pytest.mark.parametrize(
    "payload",
    [{}, [], {"entry": "x"}, {"entry": [{"changes": [{"value": "x"}]}]}, {"entry": [None, {"changes": None}]}],
)
def test_odd_payloads_parse_to_nothing(payload: Any) -> None:
    result = make_connector().handle_hook(callback(payload), kind=HOOK_STATUS, public_url="")

    assert (result.updates, result.inbound) == ([], [])
