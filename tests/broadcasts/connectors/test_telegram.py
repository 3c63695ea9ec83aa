"""The telegram backend against a fake Bot API over real HTTP, and its webhook parsing."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from broadcasts.connectors import REGISTRY, HookRejected, OutboundMessage
from broadcasts.connectors import http as http_engine
from broadcasts.connectors.telegram import TelegramConnector, iso639_3, start_payload
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, error, running_fake, update

SECRET = "s3cr3t_Token-for-hooks"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    yield from running_fake()
    http_engine.close_clients()  # each test's connector has its own pool: don't keep them open


def connector(base_url: str = "https://api.telegram.org", **config: Any) -> TelegramConnector:
    # A fresh id per connector: its own keep-alive pool, so a test's timeouts cannot leak into another's.
    settings = {"bot_token": BOT_TOKEN, "secret_token": SECRET, "base_url": base_url, **config}
    return TelegramConnector(connector_id=str(uuid.uuid4()), name="tg", channel="telegram", config=settings)


def message(message_id: int = 1, to: str = "987654321", text: str = "Hello from Herald") -> OutboundMessage:
    return OutboundMessage(id=message_id, to=to, channel="telegram", sender="", text=text)


def send_one(conn: TelegramConnector, msg: OutboundMessage | None = None):
    (result,) = conn.send([msg or message()])
    return result


def test_registered_under_its_backend_name() -> None:
    assert REGISTRY["telegram"] is TelegramConnector


# --- the wire ---


def test_send_posts_send_message_with_the_chat_id_and_text(fake: FakeTelegram) -> None:
    result = send_one(connector(fake.base_url), message(7, to="987654321", text="Your code is 1234 ✓"))

    (request,) = fake.requests
    assert request.method == "POST"
    assert request.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"chat_id": 987654321, "text": "Your code is 1234 ✓"}
    assert result.message_id == 7
    assert result.accepted is True
    assert result.provider_message_id == "987654321:1"
    assert result.delivered is True  # the Bot API reports nothing later
    assert result.transient is False
    assert result.error_code == ""


def test_group_chat_ids_are_negative_numbers_on_the_wire(fake: FakeTelegram) -> None:
    result = send_one(connector(fake.base_url), message(to="-1001234567890"))

    assert fake.requests[0].body["chat_id"] == -1001234567890
    assert result.provider_message_id == "-1001234567890:1"


def test_base_url_with_a_path_prefix_and_trailing_slash(fake: FakeTelegram) -> None:
    conn = connector(**TelegramConnector.validate_config({"bot_token": BOT_TOKEN, "secret_token": SECRET}))
    assert conn.config["base_url"] == "https://api.telegram.org"

    fake.answer_next(200, {"ok": True, "result": {"message_id": 5}})
    conn = connector(fake.base_url + "/proxy/")
    assert send_one(conn).accepted is True
    assert fake.requests[0].path == f"/proxy/bot{BOT_TOKEN}/sendMessage"


def test_a_batch_is_sent_concurrently_and_every_message_gets_its_own_id(fake: FakeTelegram) -> None:
    conn = connector(fake.base_url)
    batch = [message(i, to=str(1000 + i), text=f"hi {i}") for i in range(1, 41)]
    fake.delay = 0.2
    started = time.monotonic()
    results = conn.send(batch)
    elapsed = time.monotonic() - started

    assert [r.message_id for r in results] == list(range(1, 41))
    assert all(r.accepted and r.delivered for r in results)
    assert sorted(r.body["chat_id"] for r in fake.requests) == list(range(1001, 1041))
    # Each result names its own chat; message ids are unique.
    assert {r.provider_message_id.split(":")[0] for r in results} == {str(1000 + i) for i in range(1, 41)}
    assert len({r.provider_message_id for r in results}) == 40
    assert fake.max_in_flight >= 8
    assert elapsed < 40 * 0.2 / 2  # sequential would take 8 s (generous: CI machines are shared)


# --- classification ---


def test_429_is_transient_with_telegrams_retry_after(fake: FakeTelegram) -> None:
    fake.answer_next(429, error(429, "Too Many Requests: retry after 17", retry_after=17))

    result = send_one(connector(fake.base_url))

    assert result.accepted is False
    assert result.transient is True
    assert result.error_code == "telegram_429"
    assert result.retry_after == 17.0
    assert result.opt_out is False
    assert result.error_message == "Too Many Requests: retry after 17"


def test_429_falls_back_to_the_retry_after_header(fake: FakeTelegram) -> None:
    fake.answer_next(429, error(429, "Too Many Requests"), headers={"Retry-After": "9"})

    result = send_one(connector(fake.base_url))

    assert (result.transient, result.error_code, result.retry_after) == (True, "telegram_429", 9.0)


def test_body_retry_after_wins_over_the_header(fake: FakeTelegram) -> None:
    fake.answer_next(429, error(429, "Too Many Requests", retry_after=3), headers={"Retry-After": "60"})

    assert send_one(connector(fake.base_url)).retry_after == 3.0


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, error(500, "Internal Server Error"), "telegram_500"),
        (502, "<html>Bad Gateway</html>", "telegram_502"),
        (503, b"", "telegram_503"),
        (504, error(504, "Gateway Timeout"), "telegram_504"),
    ],
)
def test_5xx_is_transient(fake: FakeTelegram, status: int, body: Any, code: str) -> None:
    fake.answer_next(status, body, headers={"Retry-After": "2"})

    result = send_one(connector(fake.base_url))

    assert (result.accepted, result.transient, result.error_code) == (False, True, code)
    assert result.retry_after == 2.0
    assert result.opt_out is False


def test_403_blocked_is_permanent_and_opts_the_contact_out(fake: FakeTelegram) -> None:
    fake.blocked.add("987654321")

    result = send_one(connector(fake.base_url))

    assert result.accepted is False
    assert result.transient is False
    assert result.error_code == "telegram_403"
    assert result.opt_out is True
    assert result.error_message == "Forbidden: bot was blocked by the user"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, error(400, "Bad Request: chat not found"), "telegram_400"),
        (400, error(400, "Bad Request: message is too long"), "telegram_400"),
        (400, error(400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-100777), "telegram_400"),
        (401, error(401, "Unauthorized"), "telegram_401"),
        (404, error(404, "Not Found"), "telegram_404"),
        (409, error(409, "Conflict"), "telegram_409"),
        (418, "not json", "telegram_418"),  # no error_code in the body: the HTTP status
    ],
)
def test_other_errors_are_permanent_with_telegrams_error_code(
    fake: FakeTelegram, status: int, body: Any, code: str
) -> None:
    fake.answer_next(status, body)

    result = send_one(connector(fake.base_url))

    assert (result.accepted, result.transient, result.error_code, result.opt_out) == (False, False, code, False)
    assert result.retry_after is None


def test_real_fake_answers_for_a_wrong_token_and_an_empty_text(fake: FakeTelegram) -> None:
    wrong = connector(fake.base_url, bot_token="42:wrong")
    assert send_one(wrong).error_code == "telegram_401"
    assert send_one(connector(fake.base_url), message(text="")).error_code == "telegram_400"


@pytest.mark.parametrize(
    "body",
    [
        {"ok": True, "result": True},
        {"ok": True, "result": {"chat": {"id": 1}}},
        {"ok": False, "result": {"message_id": 3}},
        "<html>captive portal</html>",
    ],
)
def test_a_2xx_that_is_not_telegrams_answer_is_permanent_never_retried(fake: FakeTelegram, body: Any) -> None:
    fake.answer_next(200, body)

    result = send_one(connector(fake.base_url))

    assert (result.accepted, result.transient, result.error_code) == (False, False, "telegram_invalid_response")


def test_a_timeout_after_the_request_left_is_an_unknown_outcome(fake: FakeTelegram, settings: Any) -> None:
    """SPEC §10: written, no answer in time: the bot may have sent it; never retried (no idempotency)."""
    settings.PROVIDER_TIMEOUT = 0.3  # read when the connector's client is made
    fake.answer_next(200, {"ok": True, "result": {"message_id": 1}}, delay=1.5)

    try:
        result = send_one(connector(fake.base_url))
    finally:
        http_engine.close_clients()

    assert (result.accepted, result.transient, result.unknown, result.error_code) == (
        False,
        False,
        True,
        "delivery_unknown",
    )
    assert BOT_TOKEN not in result.error_message


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens there any more.
    result = send_one(connector(f"http://127.0.0.1:{port}"))

    assert (result.accepted, result.transient, result.error_code) == (False, True, "connection_error")
    assert BOT_TOKEN not in result.error_message


def test_the_bot_token_never_reaches_an_error_message(fake: FakeTelegram) -> None:
    leaked = f"Bad Request: see {fake.base_url}/bot{BOT_TOKEN}/sendMessage and {BOT_TOKEN}"
    fake.answer_next(400, error(400, leaked))

    result = send_one(connector(fake.base_url))

    assert BOT_TOKEN not in result.error_message
    assert BOT_TOKEN.split(":")[1] not in result.error_message
    assert "[redacted]" in result.error_message


def test_no_log_line_shows_the_bot_token(fake: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    # Every logger at DEBUG (the HTTP client's too): the token never shows, on success or failure.
    with caplog.at_level(logging.DEBUG):
        send_one(connector(fake.base_url))
        fake.answer_next(500, {"ok": False, "error_code": 500, "description": "Internal"})
        send_one(connector(fake.base_url))

    assert not any(BOT_TOKEN.split(":")[1] in r.getMessage() for r in caplog.records)


def test_a_client_log_line_with_the_token_is_redacted() -> None:
    record = logging.LogRecord(
        "aiohttp.client",
        logging.DEBUG,
        __file__,
        1,
        "GET %s",
        (f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage",),
        None,
    )
    for name in ("aiohttp.client", "aiohttp.internal"):
        assert all(f.filter(record) for f in logging.getLogger(name).filters)
    assert BOT_TOKEN.split(":")[1] not in record.getMessage()
    assert "/bot[redacted]/sendMessage" in record.getMessage()


# --- config ---


def test_validate_config_normalizes_and_fills_defaults() -> None:
    config = TelegramConnector.validate_config(
        {"bot_token": f" {BOT_TOKEN} ", "secret_token": SECRET, "base_url": "http://127.0.0.1:9000/tg/"}
    )
    assert config == {"bot_token": BOT_TOKEN, "secret_token": SECRET, "base_url": "http://127.0.0.1:9000/tg"}
    assert TelegramConnector.validate_config({"bot_token": BOT_TOKEN, "secret_token": SECRET})["base_url"] == (
        "https://api.telegram.org"
    )


@pytest.mark.parametrize(
    ("config", "bad_keys"),
    [
        ({}, {"config.bot_token", "config.secret_token"}),
        ({"secret_token": SECRET}, {"config.bot_token"}),
        ({"bot_token": BOT_TOKEN}, {"config.secret_token"}),
        ({"bot_token": 123, "secret_token": SECRET}, {"config.bot_token"}),
        ({"bot_token": "not-a-token", "secret_token": SECRET}, {"config.bot_token"}),
        ({"bot_token": "bot123:abc", "secret_token": SECRET}, {"config.bot_token"}),
        ({"bot_token": "123:abc/def", "secret_token": SECRET}, {"config.bot_token"}),
        ({"bot_token": BOT_TOKEN, "secret_token": "has space"}, {"config.secret_token"}),
        ({"bot_token": BOT_TOKEN, "secret_token": "x" * 257}, {"config.secret_token"}),
        ({"bot_token": BOT_TOKEN, "secret_token": "é"}, {"config.secret_token"}),
        ({"bot_token": BOT_TOKEN, "secret_token": ["a"]}, {"config.secret_token"}),
        ({"bot_token": BOT_TOKEN, "secret_token": SECRET, "base_url": "ftp://x"}, {"config.base_url"}),
        ({"bot_token": BOT_TOKEN, "secret_token": SECRET, "base_url": "api.telegram.org"}, {"config.base_url"}),
        ({"bot_token": BOT_TOKEN, "secret_token": SECRET, "base_url": 7}, {"config.base_url"}),
        ({"bot_token": BOT_TOKEN, "secret_token": SECRET, "chat_id": 1}, {"config.chat_id"}),
        ({"token": BOT_TOKEN, "secret_token": SECRET}, {"config.token", "config.bot_token"}),
    ],
)
def test_validate_config_names_every_bad_key(config: dict[str, Any], bad_keys: set[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        TelegramConnector.validate_config(config)

    assert set(caught.value.message_dict) == bad_keys
    assert BOT_TOKEN not in str(caught.value.message_dict)


def test_validate_config_accepts_secret_token_edges() -> None:
    for secret in ("a", "x" * 256, "A-z_0-9"):
        assert TelegramConnector.validate_config({"bot_token": BOT_TOKEN, "secret_token": secret})["secret_token"] == (
            secret
        )


def test_config_must_be_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        TelegramConnector.validate_config(["bot_token"])  # type: ignore[arg-type]
    assert set(caught.value.message_dict) == {"config"}


def test_masked_config_hides_both_secrets() -> None:
    masked = TelegramConnector.masked_config({"bot_token": BOT_TOKEN, "secret_token": SECRET, "base_url": "https://x"})

    assert masked["base_url"] == "https://x"
    assert masked["bot_token"] == "••••••••" + BOT_TOKEN[-4:]
    assert masked["secret_token"] == "••••••••" + SECRET[-4:]
    assert TelegramConnector.secret_keys == {"bot_token", "secret_token"}


# --- callbacks ---


def hook(
    conn: TelegramConnector,
    body: Any,
    *,
    secret: str | None = SECRET,
    kind: str = "inbound",
    method: str = "post",
):
    headers = {HEADER: secret} if secret is not None else {}
    raw = body if isinstance(body, bytes) else json.dumps(body)
    factory = RequestFactory()
    path = f"/hooks/{conn.connector_id}/{kind}/"
    if method == "get":
        request = factory.get(path, headers=headers)
    else:
        request = factory.post(path, raw, content_type="application/json", headers=headers)
    return conn.handle_hook(request, kind=kind, public_url=f"https://herald.example{path}")


@pytest.mark.parametrize("kind", ["inbound", "status"])
def test_a_genuine_message_update_is_an_inbound_message_on_either_path(kind: str) -> None:
    conn = connector()
    result = hook(conn, update(chat_id=987654321, text="Yes please", message_id=42, date=1_700_000_000), kind=kind)

    (inbound,) = result.inbound
    assert inbound.urn == "telegram:987654321"
    assert inbound.text == "Yes please"
    assert inbound.provider_message_id == "987654321:42"
    assert inbound.to == "123456789"  # the bot's id, the first part of its token
    assert (inbound.first_name, inbound.last_name, inbound.language) == ("Ada", "Lovelace", "eng")
    assert inbound.received_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert result.updates == []
    assert result.response is None  # the default 200 acknowledges it


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("s3cr3t_Token-for-hook", "a prefix"),
        ("s3cr3t_Token-for-hooks-", "longer"),
        ("S3CR3T_TOKEN-FOR-HOOKS", "another case"),
    ],
)
def test_a_missing_or_wrong_secret_token_is_403(secret: str | None, why: str) -> None:
    with pytest.raises(HookRejected) as caught:
        hook(connector(), update(), secret=secret)
    assert caught.value.status == 403, why


def test_a_connector_without_a_secret_token_accepts_no_callback() -> None:
    conn = connector(secret_token="")
    with pytest.raises(HookRejected) as caught:
        hook(conn, update(), secret="")
    assert caught.value.status == 403


def test_authentication_comes_before_anything_else_is_read() -> None:
    with pytest.raises(HookRejected) as caught:
        hook(connector(), b"{not json", secret="forged")
    assert caught.value.status == 403


def test_a_genuine_body_that_is_not_json_is_400() -> None:
    with pytest.raises(HookRejected) as caught:
        hook(connector(), b"{not json")
    assert caught.value.status == 400


def test_get_is_not_an_update() -> None:
    with pytest.raises(HookRejected) as caught:
        hook(connector(), None, method="get")
    assert caught.value.status == 405


@pytest.mark.parametrize(
    "text",
    ["/start", "/start ref_campaign42", "/start@HeraldBot", "/start@HeraldBot ref_campaign42"],
)
def test_start_is_an_inbound_message_with_name_and_language(text: str) -> None:
    result = hook(
        connector(),
        update(chat_id=55501, text=text, first_name="João", last_name=None, language_code="pt-br"),
    )

    (inbound,) = result.inbound
    assert inbound.urn == "telegram:55501"
    assert inbound.text == text
    assert (inbound.first_name, inbound.last_name, inbound.language) == ("João", "", "por")
    assert start_payload(inbound.text) == ("ref_campaign42" if "ref" in text else "")


def test_start_payload_is_none_for_other_text() -> None:
    assert start_payload("hello") is None
    assert start_payload("/stop") is None
    assert start_payload("/started") is None


@pytest.mark.parametrize(
    ("code", "iso"),
    [
        ("en", "eng"),
        ("pt-br", "por"),
        ("zh-hans", "zho"),
        ("de", "deu"),
        ("EN_us", "eng"),
        ("fil", "fil"),
        ("xx", ""),
        ("", ""),
        ("e", ""),
        ("english", ""),
    ],
)
def test_language_code_becomes_iso_639_3(code: str, iso: str) -> None:
    assert iso639_3(code) == iso


def test_an_update_without_language_or_last_name_leaves_them_empty() -> None:
    result = hook(connector(), update(language_code=None, last_name=None))
    (inbound,) = result.inbound
    assert (inbound.language, inbound.last_name) == ("", "")


def test_a_group_message_is_from_the_group_chat() -> None:
    result = hook(connector(), update(chat_id=-1001234567890, text="hi all", message_id=9))
    (inbound,) = result.inbound
    assert inbound.urn == "telegram:-1001234567890"
    assert inbound.provider_message_id == "-1001234567890:9"


def test_a_photo_with_a_caption_is_inbound_with_the_caption() -> None:
    body = update(text=None, caption="look at this", photo=[{"file_id": "AgAD", "width": 90, "height": 90}])
    (inbound,) = hook(connector(), body).inbound
    assert inbound.text == "look at this"


@pytest.mark.parametrize(
    "body",
    [
        update(kind="edited_message", text="edited"),
        update(kind="channel_post", text="a post"),
        update(text=None, sticker={"file_id": "CAAD", "emoji": "👍"}),
        update(text=None, new_chat_members=[{"id": 1, "is_bot": True, "first_name": "Herald"}]),
        {"update_id": 1, "callback_query": {"id": "1", "from": {"id": 1}, "data": "yes"}},
        {
            "update_id": 2,
            "my_chat_member": {
                "chat": {"id": 1, "type": "private"},
                "from": {"id": 1, "is_bot": False, "first_name": "Ada"},
                "date": 1_700_000_000,
                "old_chat_member": {"status": "member"},
                "new_chat_member": {"status": "kicked"},
            },
        },
        {"update_id": 3},
        {"update_id": 4, "message": "not an object"},
        {"update_id": 5, "message": {"message_id": 1, "chat": {"id": "1"}, "text": "chat id not a number"}},
        [],
        "just a string",
    ],
)
def test_updates_that_are_not_messages_produce_nothing_but_are_acknowledged(body: Any) -> None:
    result = hook(connector(), body)

    assert result.inbound == []
    assert result.updates == []
    assert result.response is None


def test_a_batch_of_updates_is_parsed_in_order() -> None:
    body = [
        update(chat_id=1001, text="one", message_id=1),
        {"update_id": 7, "callback_query": {"id": "1"}},
        update(chat_id=1002, text="/start", message_id=2, language_code="fr"),
        update(kind="edited_message", chat_id=1001, text="one!", message_id=1),
        update(chat_id=1003, text="STOP", message_id=3),
    ]

    result = hook(connector(), body)

    assert [(m.urn, m.text, m.provider_message_id, m.language) for m in result.inbound] == [
        ("telegram:1001", "one", "1001:1", "eng"),
        ("telegram:1002", "/start", "1002:2", "fra"),
        ("telegram:1003", "STOP", "1003:3", "eng"),
    ]


def test_send_and_a_reply_share_the_provider_id_shape(fake: FakeTelegram) -> None:
    sent = send_one(connector(fake.base_url), message(to="987654321"))
    (reply,) = hook(connector(), update(chat_id=987654321, message_id=2)).inbound

    assert sent.provider_message_id == "987654321:1"
    assert reply.provider_message_id == "987654321:2"
    assert reply.urn == "telegram:987654321"
