"""The `http` backend over real HTTP against tests/fakes/generic_http.py, and its callbacks.

No database: a plugin turns messages into HTTP calls and callbacks into updates, nothing more.
"""

from __future__ import annotations

import email.utils
import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from broadcasts.connectors import REGISTRY, connector_class
from broadcasts.connectors import http as http_engine
from broadcasts.connectors.base import (
    HOOK_INBOUND,
    HOOK_STATUS,
    HookRejected,
    InboundMessage,
    OutboundMessage,
    StatusUpdate,
)
from broadcasts.connectors.generic_http import GenericHttpConnector, HttpBackendConnector
from tests.fakes.generic_http import FakeHttpProvider, running_fake

TOKEN = "tok_live_0123456789abcdef"
STATUS_PATH = "/hooks/{}/status/"


@pytest.fixture
def fake() -> Iterator[FakeHttpProvider]:
    yield from running_fake()


@pytest.fixture(autouse=True, scope="module")
def _close_clients() -> Iterator[None]:
    yield
    http_engine.close_clients()


def connector(
    url: str = "http://127.0.0.1:9/",
    *,
    token: str | None = TOKEN,
    channel: str = "sms",
    connector_id: str = "httpb-tests",
    **extra: Any,
) -> HttpBackendConnector:
    config: dict[str, Any] = {"url": url, **extra}
    if token is not None:
        config["token"] = token
    config = HttpBackendConnector.validate_config(config)
    # One keep-alive pool for the module's connectors (each fake has its own port, so no test reuses
    # another's connections); making a pool per test would cost ~0.15 s of TLS setup each.
    return HttpBackendConnector(connector_id=connector_id, name="gateway", channel=channel, config=config)


def message(n: int = 41, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "id": n,
        "to": "+256772000001",
        "channel": "sms",
        "sender": "HERALD",
        "text": "Hello Kampala",
        "status_url": f"http://herald.test/hooks/{n}/status/",
    }
    values.update(fields)
    return OutboundMessage(**values)


def hook_request(payload: Any, *, token: str | None = TOKEN, scheme: str = "Bearer", raw: bytes | None = None):
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    data = raw if raw is not None else json.dumps(payload)
    return RequestFactory().post("/hooks/x/status/", data, content_type="application/json", headers=headers)


# Registration -------------------------------------------------------------------------------------


def test_registered_as_the_http_backend() -> None:
    assert REGISTRY["http"] is HttpBackendConnector
    assert connector_class("http") is GenericHttpConnector
    assert HttpBackendConnector.backend == "http"


# Config -------------------------------------------------------------------------------------------


def test_config_normalized_with_defaults() -> None:
    assert HttpBackendConnector.validate_config({"url": "  https://sms.example.com/send/  "}) == {
        "url": "https://sms.example.com/send/",
        "token": "",
        "idempotent": False,
    }
    assert HttpBackendConnector.validate_config({"url": "http://gw:8080/x", "token": " abc ", "idempotent": True}) == {
        "url": "http://gw:8080/x",
        "token": "abc",
        "idempotent": True,
    }


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": 42}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "example.com/send"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"url": "http://host:port/x"}, "url"),
        ({"url": "https://example.com/a b"}, "url"),
        ({"url": "https://x.test", "token": 123}, "token"),
        ({"url": "https://x.test", "token": "two words"}, "token"),
        ({"url": "https://x.test", "token": "line\nbreak"}, "token"),
        ({"url": "https://x.test", "idempotent": "true"}, "idempotent"),
        ({"url": "https://x.test", "idempotent": 1}, "idempotent"),
        ({"url": "https://x.test", "base_url": "https://y.test"}, "base_url"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HttpBackendConnector.validate_config(config)
    assert f"config.{key}" in caught.value.message_dict


def test_config_reports_every_bad_key_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        HttpBackendConnector.validate_config({"url": "mailto:x", "token": ["x"], "idempotent": "yes"})
    assert set(caught.value.message_dict) == {"config.url", "config.token", "config.idempotent"}


def test_config_must_be_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        HttpBackendConnector.validate_config(["https://x.test"])  # type: ignore[arg-type]
    assert "config" in caught.value.message_dict


def test_masked_config_hides_the_token() -> None:
    config = HttpBackendConnector.validate_config({"url": "https://x.test/send", "token": TOKEN})
    masked = HttpBackendConnector.masked_config(config)
    assert masked["url"] == "https://x.test/send"
    assert masked["idempotent"] is False
    assert TOKEN not in json.dumps(masked)
    assert masked["token"].endswith(TOKEN[-4:])
    assert masked["token"].startswith("•")
    assert HttpBackendConnector.secret_keys == frozenset({"token"})


def test_idempotent_is_per_connector() -> None:
    assert connector(idempotent=True).idempotent is True
    assert connector().idempotent is False
    assert HttpBackendConnector.idempotent is False  # the class default is untouched
    # A damaged config never makes a connector resend after a crash.
    damaged = HttpBackendConnector(connector_id="c", name="n", channel="sms", config={"idempotent": "true"})
    assert damaged.idempotent is False


# Sending: the wire --------------------------------------------------------------------------------


def test_the_request_on_the_wire(fake: FakeHttpProvider) -> None:
    outbound = message(7, attachments=("https://cdn.test/a.png", "https://cdn.test/b.pdf"))
    [result] = connector(fake.url).send([outbound])
    assert result.accepted
    assert result.provider_message_id == "prov-7"
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == "/v1/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["idempotency-key"] == "7"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "id": "7",
        "to": "+256772000001",
        "from": "HERALD",
        "channel": "sms",
        "text": "Hello Kampala",
        "attachments": ["https://cdn.test/a.png", "https://cdn.test/b.pdf"],
        "status_url": "http://herald.test/hooks/7/status/",
    }


def test_no_token_sends_no_authorization(fake: FakeHttpProvider) -> None:
    [result] = connector(fake.url, token=None).send([message(8, attachments=())])
    assert result.accepted
    [request] = fake.requests
    assert "authorization" not in request.headers
    assert request.body["attachments"] == []


def test_url_used_as_given_with_its_query(fake: FakeHttpProvider) -> None:
    connector(fake.url + "/?route=ug").send([message(9)])
    assert fake.requests[0].path == "/v1/messages/?route=ug"


# Sending: answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "provider_id"),
    [
        (200, {"id": "abc-123"}, "abc-123"),
        (201, {"id": 987654}, "987654"),
        (202, {"id": "q-1", "status": "queued"}, "q-1"),
        # A 2xx without a usable id: accepted under our own id (see the module's docstring).
        (200, {}, "41"),
        (200, {"id": ""}, "41"),
        (200, {"id": None}, "41"),
        (200, [{"id": "x"}], "41"),
        (200, b"", "41"),
        (204, b"", "41"),
        (200, b"OK", "41"),
    ],
)
def test_2xx_accepted(fake: FakeHttpProvider, status: int, body: Any, provider_id: str) -> None:
    fake.answer_next(status, body)
    [result] = connector(fake.url).send([message(41)])
    assert result.accepted
    assert result.provider_message_id == provider_id
    assert not result.transient
    assert result.error_code == ""
    assert not result.opt_out
    assert not result.delivered


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_429_and_5xx_are_transient(fake: FakeHttpProvider, status: int) -> None:
    fake.answer_next(status, {"error": "try later"})
    [result] = connector(fake.url).send([message()])
    assert not result.accepted
    assert result.transient
    assert result.error_code == f"http_{status}"
    assert result.error_message == f"HTTP {status}: try later"
    assert result.retry_after is None


def test_retry_after_seconds_honoured(fake: FakeHttpProvider) -> None:
    fake.answer_next(429, {"error": "slow down"}, headers={"Retry-After": "17"})
    [result] = connector(fake.url).send([message()])
    assert result.transient
    assert result.error_code == "http_429"
    assert result.retry_after == 17.0


def test_retry_after_http_date_honoured(fake: FakeHttpProvider) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    fake.answer_next(503, b"", headers={"Retry-After": when})
    [result] = connector(fake.url).send([message()])
    assert result.transient
    assert result.error_code == "http_503"
    assert result.retry_after is not None
    assert 100 <= result.retry_after <= 121


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 410, 422, 451])
def test_other_4xx_are_permanent(fake: FakeHttpProvider, status: int) -> None:
    fake.answer_next(status, {"message": "invalid destination"}, headers={"Retry-After": "5"})
    [result] = connector(fake.url).send([message()])
    assert not result.accepted
    assert not result.transient
    assert result.error_code == f"http_{status}"
    assert result.error_message == f"HTTP {status}: invalid destination"
    assert result.retry_after is None
    assert not result.opt_out


def test_redirect_not_followed_and_permanent(fake: FakeHttpProvider) -> None:
    fake.answer_next(301, b"", headers={"Location": "https://elsewhere.test/"})
    [result] = connector(fake.url).send([message()])
    assert not result.accepted
    assert not result.transient
    assert result.error_code == "http_301"
    assert len(fake.requests) == 1


def test_error_message_bounded(fake: FakeHttpProvider) -> None:
    fake.answer_next(400, {"error": "x" * 5000})
    [result] = connector(fake.url).send([message()])
    assert result.error_code == "http_400"
    assert len(result.error_message) == 200


def test_a_timeout_after_the_request_left_is_an_unknown_outcome(fake: FakeHttpProvider, settings: Any) -> None:
    http_engine.close_clients()
    settings.PROVIDER_TIMEOUT = 0.3  # read when the connector's pool is made
    fake.answer_next(200, delay=1.5)
    started = time.monotonic()
    [result] = connector(fake.url, connector_id=str(uuid.uuid4())).send([message()])
    assert time.monotonic() - started < 1.4
    assert (result.accepted, result.transient, result.unknown, result.error_code) == (
        False,
        False,
        True,
        "delivery_unknown",
    )
    assert len(fake.requests) == 1  # it did reach the provider: why only idempotent connectors resend
    http_engine.close_clients()  # no later test may inherit the short timeout


def test_a_requests_deadline_starts_when_a_connection_is_free_for_it(
    fake: FakeHttpProvider, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch larger than the pool: each request's deadline counts its own connect, write and read,
    not the time it queued behind the batch's earlier requests (with a pool of one connection and
    0.3 s answers, the third request starts 0.6 s after the batch, past the 0.5 s deadline)."""
    http_engine.close_clients()
    monkeypatch.setattr(http_engine, "MAX_IN_FLIGHT", 1)  # read when the connector's pool is made
    settings.PROVIDER_TIMEOUT = 0.5
    fake.answer_always(200, delay=0.3)
    results = connector(fake.url, connector_id=str(uuid.uuid4())).send([message(1), message(2), message(3)])
    assert [(r.message_id, r.accepted, r.error_code) for r in results] == [(1, True, ""), (2, True, ""), (3, True, "")]
    assert fake.max_in_flight == 1
    http_engine.close_clients()  # no later test may inherit the pool of one


def test_a_2xx_whose_body_is_cut_short_is_an_unknown_outcome(fake: FakeHttpProvider) -> None:
    """200, then the connection drops before the body ends: the provider took the message, or not."""
    fake.answer_next(200, cut=True)
    [result] = connector(fake.url).send([message()])
    assert (result.accepted, result.transient, result.unknown, result.error_code) == (
        False,
        False,
        True,
        "delivery_unknown",
    )
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("status", "transient"), [(503, True), (400, False)])
def test_a_refusal_whose_body_is_cut_short_is_still_an_answer(fake: FakeHttpProvider, status, transient) -> None:
    """The status line said no: the outcome is known even though the body never arrived whole."""
    fake.answer_next(status, {"error": "no"}, cut=True)
    [result] = connector(fake.url).send([message()])
    assert (result.accepted, result.transient, result.unknown, result.error_code) == (
        False,
        transient,
        False,
        f"http_{status}",
    )


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    [result] = connector(f"http://127.0.0.1:{port}/send").send([message()])
    assert not result.accepted
    assert result.transient
    assert result.error_code == "connection_error"


def test_a_batch_is_sent_concurrently(fake: FakeHttpProvider) -> None:
    fake.answer_always(200, delay=0.25)
    batch = [message(n) for n in range(1, 41)]
    started = time.monotonic()
    results = connector(fake.url, connector_id="httpb-concurrency").send(batch)
    elapsed = time.monotonic() - started
    assert [r.message_id for r in results] == list(range(1, 41))
    assert all(r.accepted for r in results)
    assert [r.provider_message_id for r in results] == [f"prov-{n}" for n in range(1, 41)]
    assert sorted(int(r.body["id"]) for r in fake.requests) == list(range(1, 41))
    assert sorted(int(r.headers["idempotency-key"]) for r in fake.requests) == list(range(1, 41))
    assert fake.max_in_flight > 8
    assert elapsed < 40 * 0.25 / 2  # sequential would take 10 s (generous: CI machines are shared)


def test_a_batch_keeps_each_answer_with_its_message(fake: FakeHttpProvider) -> None:
    fake.answer_always(200, delay=0.05)
    fake.answer_for("3", 503, b"", headers={"Retry-After": "9"})
    fake.answer_for("5", 400, {"error": "bad number"})
    fake.answer_for("7", 200, {"id": "seven"})
    results = connector(fake.url).send([message(n) for n in range(1, 11)])
    by_id = {r.message_id: r for r in results}
    assert (by_id[3].transient, by_id[3].error_code, by_id[3].retry_after) == (True, "http_503", 9.0)
    assert (by_id[5].accepted, by_id[5].transient, by_id[5].error_code) == (False, False, "http_400")
    assert by_id[7].provider_message_id == "seven"
    assert all(by_id[n].accepted and by_id[n].provider_message_id == f"prov-{n}" for n in (1, 2, 4, 6, 8, 9, 10))


# Callbacks: authentication ------------------------------------------------------------------------

REPORT = {"id": "prov-7", "status": "delivered"}


@pytest.mark.parametrize("kind", [HOOK_STATUS, HOOK_INBOUND])
def test_genuine_callbacks_accepted(kind: str) -> None:
    payload = REPORT if kind == HOOK_STATUS else {"id": "in-1", "from": "+256772000001", "to": "HERALD", "text": "hi"}
    result = connector().handle_hook(hook_request(payload), kind=kind, public_url="http://herald.test/")
    assert len(result.updates) + len(result.inbound) == 1
    assert result.response is None


@pytest.mark.parametrize("kind", [HOOK_STATUS, HOOK_INBOUND])
@pytest.mark.parametrize(
    ("token", "scheme"),
    [
        (None, "Bearer"),  # no Authorization header
        ("wrong-token", "Bearer"),
        (TOKEN[:-1], "Bearer"),
        (TOKEN + "x", "Bearer"),
        ("", "Bearer"),
        (TOKEN, "Basic"),
        (TOKEN, "Token"),
    ],
)
def test_forged_or_missing_token_rejected_401(kind: str, token: str | None, scheme: str) -> None:
    with pytest.raises(HookRejected) as caught:
        connector().handle_hook(hook_request(REPORT, token=token, scheme=scheme), kind=kind, public_url="")
    assert caught.value.status == 401


def test_bearer_scheme_is_case_insensitive() -> None:
    result = connector().handle_hook(hook_request(REPORT, scheme="bearer"), kind=HOOK_STATUS, public_url="")
    assert result.updates == [StatusUpdate("prov-7", "delivered")]


def test_a_connector_without_token_refuses_callbacks() -> None:
    gateway = connector(token=None)
    for presented in (None, "", TOKEN):
        with pytest.raises(HookRejected) as caught:
            gateway.handle_hook(hook_request(REPORT, token=presented), kind=HOOK_STATUS, public_url="")
        assert caught.value.status == 401


def test_authentication_before_parsing() -> None:
    with pytest.raises(HookRejected) as caught:
        connector().handle_hook(hook_request(None, token="nope", raw=b"{not json"), kind=HOOK_STATUS, public_url="")
    assert caught.value.status == 401


@pytest.mark.parametrize("raw", [b"{not json", b"", b'"a string"', b"42", b"[1, 2]", b'[{"id": "a"}, "b"]'])
def test_invalid_bodies_rejected_400(raw: bytes) -> None:
    with pytest.raises(HookRejected) as caught:
        connector().handle_hook(hook_request(None, raw=raw), kind=HOOK_STATUS, public_url="")
    assert caught.value.status == 400


def test_unknown_kind_and_method() -> None:
    with pytest.raises(HookRejected) as caught:
        connector().handle_hook(hook_request(REPORT), kind="other", public_url="")
    assert caught.value.status == 404
    get = RequestFactory().get("/hooks/x/status/", headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(HookRejected) as caught:
        connector().handle_hook(get, kind=HOOK_STATUS, public_url="")
    assert caught.value.status == 405


# Callbacks: reports -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ({"id": "p1", "status": "delivered"}, StatusUpdate("p1", "delivered")),
        ({"id": "p1", "status": "read"}, StatusUpdate("p1", "read")),
        (
            {"id": "p1", "status": "failed", "error_code": "absent_subscriber"},
            StatusUpdate("p1", "failed", "absent_subscriber"),
        ),
        ({"id": "p1", "status": "failed", "error_code": 27}, StatusUpdate("p1", "failed", "27")),
        ({"id": "p1", "status": "failed"}, StatusUpdate("p1", "failed")),
        ({"id": 123, "status": "DELIVERED"}, StatusUpdate("123", "delivered")),
        ({"id": "p1", "status": "delivered", "error_code": "ignored"}, StatusUpdate("p1", "delivered")),
    ],
)
def test_report_mapping(report: dict[str, Any], expected: StatusUpdate) -> None:
    result = connector().handle_hook(hook_request(report), kind=HOOK_STATUS, public_url="")
    assert result.updates == [expected]
    assert result.inbound == []


@pytest.mark.parametrize("status", ["sent", "queued", "accepted", "enroute", "whatever"])
def test_statuses_meaning_no_change_produce_nothing(status: str) -> None:
    result = connector().handle_hook(hook_request({"id": "p1", "status": status}), kind=HOOK_STATUS, public_url="")
    assert result.updates == []


def test_a_batch_of_reports() -> None:
    batch = [{"id": f"p{n}", "status": "delivered"} for n in range(100)]
    batch[10] = {"id": "p10", "status": "failed", "error_code": "E42"}
    batch[11] = {"id": "p11", "status": "sent"}
    batch[12] = {"id": "p12", "status": "read"}
    result = connector().handle_hook(hook_request(batch), kind=HOOK_STATUS, public_url="")
    assert len(result.updates) == 99
    assert result.updates[10] == StatusUpdate("p10", "failed", "E42")
    assert result.updates[11] == StatusUpdate("p12", "read")
    assert connector().handle_hook(hook_request([]), kind=HOOK_STATUS, public_url="").updates == []


@pytest.mark.parametrize(
    "report", [{"status": "delivered"}, {"id": "", "status": "read"}, {"id": "p1"}, {"id": "p1", "status": 3}]
)
def test_malformed_reports_rejected_400(report: dict[str, Any]) -> None:
    with pytest.raises(HookRejected) as caught:
        connector().handle_hook(hook_request([REPORT, report]), kind=HOOK_STATUS, public_url="")
    assert caught.value.status == 400


def test_report_for_what_was_sent(fake: FakeHttpProvider) -> None:
    """The loop end to end: the provider reports to the status_url it was given, with its own id."""
    gateway = connector(fake.url)
    [result] = gateway.send([message(55, status_url="http://herald.test/hooks/c-1/status/")])
    sent = fake.requests[0]
    request = RequestFactory().post(
        sent.body["status_url"].removeprefix("http://herald.test"),
        json.dumps([{"id": result.provider_message_id, "status": "delivered"}]),
        content_type="application/json",
        headers={"Authorization": sent.headers["authorization"]},
    )
    hook = gateway.handle_hook(request, kind=HOOK_STATUS, public_url=sent.body["status_url"])
    assert hook.updates == [StatusUpdate("prov-55", "delivered")]


# Callbacks: inbound -------------------------------------------------------------------------------


def test_inbound_message() -> None:
    payload = {"id": "in-9", "from": "+256772000001", "to": "HERALD", "text": "STOP"}
    result = connector().handle_hook(hook_request(payload), kind=HOOK_INBOUND, public_url="")
    assert result.inbound == [
        InboundMessage(urn="tel:+256772000001", text="STOP", provider_message_id="in-9", to="HERALD")
    ]
    assert result.updates == []


def test_a_batch_of_inbound_messages() -> None:
    batch = [
        {"id": f"in-{n}", "from": f"+2567720000{n:02d}", "to": "+256700000000", "text": f"reply {n}"}
        for n in range(10, 30)
    ]
    result = connector().handle_hook(hook_request(batch), kind=HOOK_INBOUND, public_url="")
    assert [m.urn for m in result.inbound] == [f"tel:+2567720000{n:02d}" for n in range(10, 30)]
    assert [m.text for m in result.inbound] == [f"reply {n}" for n in range(10, 30)]
    assert {m.to for m in result.inbound} == {"+256700000000"}


@pytest.mark.parametrize(
    ("channel", "sender", "urn"),
    [
        ("sms", "+256 772 000-001", "tel:+256772000001"),
        ("sms", "256772000001", "tel:+256772000001"),
        ("sms", "00256772000001", "tel:+256772000001"),
        ("sms", "tel:+256772000001", "tel:+256772000001"),
        ("rcs", "+33612345678", "tel:+33612345678"),
        ("whatsapp", "+256772000001", "whatsapp:+256772000001"),
        ("whatsapp", "whatsapp:+256772000001", "whatsapp:+256772000001"),
        ("telegram", "123456789", "telegram:123456789"),
        ("telegram", 123456789, "telegram:123456789"),
        ("telegram", "-100123", "telegram:-100123"),
    ],
)
def test_inbound_urn_per_channel(channel: str, sender: Any, urn: str) -> None:
    result = connector(channel=channel).handle_hook(
        hook_request({"from": sender, "text": "hi"}), kind=HOOK_INBOUND, public_url=""
    )
    assert result.inbound[0].urn == urn
    assert result.inbound[0].provider_message_id == ""


def test_inbound_without_text_is_empty_text() -> None:
    result = connector().handle_hook(hook_request({"from": "+256772000001"}), kind=HOOK_INBOUND, public_url="")
    assert result.inbound[0].text == ""


@pytest.mark.parametrize(
    ("channel", "item"),
    [
        ("sms", {"text": "no sender"}),
        ("sms", {"from": "", "text": "x"}),
        ("sms", {"from": "not a number", "text": "x"}),
        ("sms", {"from": "+12", "text": "x"}),
        ("sms", {"from": "+256772000001", "text": 5}),
        ("telegram", {"from": "@someone", "text": "x"}),
    ],
)
def test_malformed_inbound_rejected_400(channel: str, item: dict[str, Any]) -> None:
    with pytest.raises(HookRejected) as caught:
        connector(channel=channel).handle_hook(hook_request(item), kind=HOOK_INBOUND, public_url="")
    assert caught.value.status == 400
