"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 that speaks `sendMessage` as Telegram does.

`POST /bot<token>/sendMessage` with the right token answers `{"ok": true, "result": {"message_id": N,
"chat": {...}, "date": ..., "text": ...}}` (N counts up from 1); a wrong token is 401 `Unauthorized`,
an unknown method 404, an empty chat_id or text 400, a chat in `blocked` 403 `Forbidden: bot was
blocked by the user`, all in Telegram's error shape `{"ok": false, "error_code", "description",
"parameters"?}`. `answer_next(...)` queues one answer (status, body, headers, delay) that overrides
this; `delay` slows Telegram's own answers. Every request is recorded (method, path, headers, parsed
body), and the requests in flight at once are counted, so a test can see that a batch is sent
concurrently.

`update(...)` builds the webhook updates Telegram posts to a bot, for the hook tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes import FakeServer, reply

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOT_ID = 123456789


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON (or form fields), or the raw text


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # bytes/str sent as is; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    """An error body exactly as the Bot API writes it."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


class FakeTelegram:
    def __init__(self, token: str = BOT_TOKEN) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.blocked: set[str] = set()
        self.delay = 0.0  # seconds before each of Telegram's own answers (not the queued ones)
        self._queue: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1)
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Telegram

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

        self.server = FakeServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll so that stopping the fake does not hold every test for half a second.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer_next(
        self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0
    ) -> None:
        with self._lock:
            self._queue.append(Answer(status, body, headers or {}, delay))

    def _answer(self, path: str, body: Any) -> Answer:
        """What Telegram itself would answer."""
        prefix, _, method = path.lstrip("/").partition("/")
        if prefix != f"bot{self.token}":
            return Answer(401 if prefix.startswith("bot") else 404, error(401, "Unauthorized"))
        if method != "sendMessage":
            return Answer(404, error(404, "Not Found"))
        body = body if isinstance(body, dict) else {}
        chat_id, text = body.get("chat_id"), body.get("text")
        if chat_id in (None, ""):
            return Answer(400, error(400, "Bad Request: chat_id is empty"))
        if not text:
            return Answer(400, error(400, "Bad Request: message text is empty"))
        if str(chat_id) in self.blocked:
            return Answer(403, error(403, "Forbidden: bot was blocked by the user"))
        result = {
            "message_id": next(self._message_ids),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Herald", "username": "herald_bot"},
            "chat": {"id": chat_id, "first_name": "Ada", "type": "private"},
            "date": int(time.time()),
            "text": text,
        }
        return Answer(200, {"ok": True, "result": result})

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type") or ""
        body: Any
        try:
            body = json.loads(raw)
        except ValueError:
            text = raw.decode("utf-8", "replace")
            body = dict(parse_qsl(text)) if content_type.startswith("application/x-www-form-urlencoded") else text
        with self._lock:
            self.requests.append(
                Recorded(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
            )
            if self._queue:
                answer = self._queue.popleft()
            else:
                answer = self._answer(handler.path, body)
                answer.delay = self.delay
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if answer.delay:
                time.sleep(answer.delay)
            reply(handler, answer.status, answer.body, answer.headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    def start(self) -> FakeTelegram:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running_fake(token: str = BOT_TOKEN) -> Iterator[FakeTelegram]:
    """For a pytest fixture: a started fake, stopped afterwards."""
    fake = FakeTelegram(token).start()
    try:
        yield fake
    finally:
        fake.stop()


_update_ids = itertools.count(100_000)


def update(
    *,
    chat_id: int = 987654321,
    text: str | None = "hello",
    message_id: int = 42,
    date: int = 1_700_000_000,
    first_name: str = "Ada",
    last_name: str | None = "Lovelace",
    language_code: str | None = "en",
    kind: str = "message",
    **message_fields: Any,
) -> dict[str, Any]:
    """A webhook update as Telegram posts it: `kind` is message, edited_message, channel_post…"""
    sender: dict[str, Any] = {"id": chat_id if chat_id > 0 else 555, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        sender["last_name"] = last_name
    if language_code is not None:
        sender["language_code"] = language_code
    chat: dict[str, Any] = (
        {"id": chat_id, "first_name": first_name, "type": "private"}
        if chat_id > 0
        else {"id": chat_id, "title": "A group", "type": "group"}
    )
    message: dict[str, Any] = {"message_id": message_id, "from": sender, "chat": chat, "date": date}
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    message.update(message_fields)
    if kind == "edited_message":
        message["edit_date"] = date + 60
    return {"update_id": next(_update_ids), kind: message}
