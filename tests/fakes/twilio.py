"""A local Twilio Messages API: `POST /2010-04-01/Accounts/{sid}/Messages.json` over real HTTP.

It checks basic auth and the path as Twilio does (401 code 20003, 404 code 20404), answers 201 with
a message resource whose `sid` is `SM…`, records every request (method, path, headers, form fields
with repeated names kept), and can be told how to answer the next requests (status, JSON body,
headers, delay). It also tracks how many requests were in flight at once, to prove concurrency.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0001"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a batch opens dozens of connections at once; the default backlog is 5


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    form: dict[str, list[str]]
    raw: bytes
    answered: Any = None  # the JSON body the fake answered


@dataclass
class Answer:
    status: int = 201
    body: Any = None  # JSON-able; None = a Twilio message resource for the request
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None  # a non-JSON body (an HTML error page from a proxy)


class FakeTwilio:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[Recorded] = []
        self.answers: deque[Answer] = deque()
        self.default = Answer()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def messages_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def answer_next(self, *answers: Answer) -> None:
        with self._lock:
            self.answers.extend(answers)

    def answer_always(self, answer: Answer) -> None:
        self.default = answer

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next(self) -> Answer:
        with self._lock:
            return self.answers.popleft() if self.answers else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as api.twilio.com

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                form = parse_qs(raw.decode(), keep_blank_values=True)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    record = Recorded("POST", self.path, headers, form, raw)
                    fake.requests.append(record)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                self.record = record
                try:
                    self._answer(headers, form)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _answer(self, headers: dict[str, str], form: dict[str, list[str]]) -> Any:
                expected = "Basic " + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if headers.get("authorization") != expected:
                    return self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if self.path != fake.messages_path:
                    return self._send(404, {"code": 20404, "message": "The requested resource was not found"})
                answer = fake._next()
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.raw is not None:
                    return self._send(answer.status, answer.raw, answer.headers, content_type="text/html")
                body = answer.body if answer.body is not None else fake.resource(form)
                return self._send(answer.status, body, answer.headers)

            def _send(
                self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = ""
            ) -> Any:
                # Recorded before the answer leaves: the client may read the record as soon as it has it.
                self.record.answered = body
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self._reply(status, payload, headers or {}, content_type or "application/json")
                return body

            def _reply(self, status: int, payload: bytes, headers: dict[str, str], content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler

    def resource(self, form: dict[str, list[str]]) -> dict[str, Any]:
        """A message resource as Twilio answers a create (the fields our connector may read)."""
        return {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "to": (form.get("To") or [""])[0],
            "from": (form.get("From") or [None])[0],
            "messaging_service_sid": (form.get("MessagingServiceSid") or [None])[0],
            "body": (form.get("Body") or [""])[0],
            "status": "queued",
            "num_media": str(len(form.get("MediaUrl") or [])),
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
        }


@contextmanager
def running_fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    try:
        yield fake
    finally:
        fake.stop()
